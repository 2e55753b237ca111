"""The compression pipeline and its report: ``python -m golden.compress``.

::

    python -m golden.compress WEIGHTS.npz -o MODEL.npz --report DIR [options]

``WEIGHTS.npz`` holds named float arrays, layers in file order: ``NAME.weight``
(FC ``(N_out, N_in)`` or conv ``(N_fout, N_fin, K_y, K_x)``), optional
``NAME.bias``, and for conv optional ``NAME.stride`` / ``NAME.padding`` scalars.
Every layer goes through coarse-grained pruning (:mod:`golden.compression.prune`), local
quantization (:mod:`golden.compression.quantize`) and Huffman coding
(:mod:`golden.compression.huffman`),
and the same weights through the fine-grained Deep Compression baseline
(magnitude pruning at the same sparsity, one global codebook, Huffman, and
4-bit relative indices with filler zeros).  Writes the model file
(:mod:`golden.contract.model`), ``DIR/report.md`` and ``DIR/report.json``.

Sizes, per layer (the thesis' tables 3.3–3.5; original = 32-bit floats):

* ``W_p`` / ``I_p``: surviving weights as 32-bit floats / the index (coarse: one
  bit per block; baseline: 4 bits per entry of the relative index);
* ``W_q``: ``bits`` per stored weight plus the codebooks (int16 entries);
* ``W_c`` / ``I_c``: Huffman-coded indices (table included) plus codebooks /
  the Huffman-coded index, or the raw one where Huffman would not be smaller;
* ``r_p``, ``r_q``, ``r_c``: original bytes over ``W + I`` after each step;
  ``bits_per_weight``: ``8 (W_c + I_c)`` per surviving weight;
  ``R_irr``: compressed fine-grained bitmap over compressed coarse bitmap
  (:mod:`golden.compression.irregularity`, the compressor is named in the report).
"""

import argparse
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from golden.cli import (
    ArgumentParser,
    UsageError,
    atomic_json,
    atomic_write,
    output_dir,
    output_file,
    run_main,
    warn,
)
from golden.compression import huffman
from golden.compression.irregularity import r_irr
from golden.compression.prune import align_block, check_block, iterative_prune, prune, sparsity
from golden.compression.quantize import quantize, region_grid
from golden.contract.activation import ACT_FRAC
from golden.contract.fixed import ACTIVATIONS, NONLINEAR
from golden.contract.model import Layer, Model, save
from golden.contract.packing import slot_bits

__all__ = ["CompressConfig", "MAX_WEIGHT", "read_weights", "check_network", "compress_layer",
           "baseline_figures",
           "prune_network", "compress_network", "write_report", "main"]


@dataclass
class CompressConfig:
    """Options of the pipeline; per layer kind where the thesis differs (fc/conv)."""
    block_fc: tuple = (16, 16)
    block_conv: tuple = (16, 1, 1, 1)
    sparsity_fc: float = 0.9
    sparsity_conv: float = 0.6
    score: str = "avg"
    bits_fc: int = 4
    bits_conv: int = 8
    region_fc: tuple | None = None      # None: one region per layer (global)
    region_conv: tuple | None = None
    tn_align: int | None = None         # round the blocks' output extent to a multiple of Tn
    steps: int = 3
    f_in: int = 8                       # fractional bits of the first layer's input
    f_act: int = 8                      # fractional bits of every layer's output
    activation: str = "relu"            # hidden layers; the last layer is identity
    seed: int = 0
    skip: tuple = field(default_factory=tuple)   # layer names left dense (sparsity 0)

    def validate(self):
        for name in ("sparsity_fc", "sparsity_conv"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise ValueError(f"{name.replace('_', '-')} must be in [0, 1) (a layer keeps at "
                                 f"least one block), not {v!r}")
        if self.score not in ("max", "avg"):
            raise ValueError(f"score must be one of 'max', 'avg', not {self.score!r}")
        for name in ("bits_fc", "bits_conv"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not (1 <= v <= 8 or v == 16):
                raise ValueError(f"{name.replace('_', '-')} must be 1..8 (codebook indices) or 16 "
                                 f"(raw int16 weights), not {v!r}")
        if self.tn_align is not None and (self.tn_align < 1 or self.tn_align & (self.tn_align - 1)):
            raise ValueError(f"tn-align must be a power of two, not {self.tn_align}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"not {self.activation!r}")
        for name in ("f_in", "f_act"):
            if not 0 <= getattr(self, name) <= 15:
                raise ValueError(f"{name.replace('_', '-')} must be in 0..15, "
                                 f"not {getattr(self, name)!r}")
        if self.activation in NONLINEAR and self.f_act != ACT_FRAC:
            raise ValueError(f"f-act must be {ACT_FRAC} with activation {self.activation!r} "
                             f"(the PEFU's sigmoid/tanh work at {ACT_FRAC} fractional bits), "
                             f"not {self.f_act}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, not {self.steps!r}")


#: The largest weight magnitude int16 fixed point holds (f_w = 0).
MAX_WEIGHT = 32767.0


def _scalar_int(path, key, value, lo, hi):
    """A conv ``stride``/``padding`` entry: one integer in ``lo..hi``."""
    a = np.asarray(value)
    if a.size != 1 or a.ndim > 1:
        raise ValueError(f"{path}: {key} must be one integer, not an array of shape {a.shape}")
    v = a.reshape(()).item()
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise ValueError(f"{path}: {key} must be an integer, not {v!r}")
    if not lo <= int(v) <= hi:
        raise ValueError(f"{path}: {key} must be in {lo}..{hi}, not {int(v)}")
    return int(v)


def read_weights(path):
    """``[(name, weight, bias or None, extra)]`` in file order from a weights .npz,
    checked (:func:`check_network`) before any work."""
    import zipfile
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, expected an .npz file") from None
    except Exception as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive (a .npy file holds one array; save the "
                         f"layers with numpy.savez as NAME.weight, NAME.bias)")
    arrays = {}
    with npz:
        files = list(npz.files)
        for k in files:
            try:
                arrays[k] = npz[k]
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
                raise ValueError(f"{path}: array {k!r} cannot be read ({e})") from None
    layers, seen = [], set()
    for key in files:
        if "." not in key:
            raise ValueError(f"{path}: array {key!r} is not named NAME.weight / NAME.bias")
        name, kind = key.rsplit(".", 1)
        if kind not in ("weight", "bias", "stride", "padding"):
            raise ValueError(f"{path}: array {key!r}: the suffix must be weight, bias, "
                             f"stride or padding")
        if name in seen or kind != "weight":
            continue
        seen.add(name)
        w = arrays[key]
        if w.dtype.kind != "f":
            raise ValueError(f"{path}: {key} must be a float array, not {w.dtype}")
        if w.ndim not in (2, 4):
            raise ValueError(f"{path}: {key} must be 2-D (fc) or 4-D (conv), not shape {w.shape}")
        if min(w.shape) < 1:
            raise ValueError(f"{path}: {key} has a zero-size dimension (shape {w.shape})")
        if not np.isfinite(w).all():
            raise ValueError(f"{path}: {key} holds NaN or infinite values")
        big = np.abs(w) >= MAX_WEIGHT + 0.5
        if big.any():
            at = tuple(int(i) for i in np.argwhere(big)[0])
            raise ValueError(f"{path}: {key} holds {float(w[at]):g} at {list(at)}: weights must "
                             f"fit int16 fixed point (|w| < {MAX_WEIGHT + 0.5:g})")
        b = arrays.get(f"{name}.bias")
        if b is not None:
            if b.dtype.kind not in "fiu":
                raise ValueError(f"{path}: {name}.bias must be a numeric array, not {b.dtype}")
            if b.shape != (w.shape[0],):
                raise ValueError(f"{path}: {name}.bias must have shape ({w.shape[0]},), "
                                 f"not {b.shape}")
            if not np.isfinite(b).all():
                raise ValueError(f"{path}: {name}.bias holds NaN or infinite values")
        extra = {}
        for k, lo in (("stride", 1), ("padding", 0)):
            if f"{name}.{k}" in arrays:
                if w.ndim != 4:
                    raise ValueError(f"{path}: {name}.{k}: only conv layers (4-D weights) "
                                     f"have a {k}")
                extra[k] = _scalar_int(path, f"{name}.{k}", arrays[f"{name}.{k}"], lo, 16)
        layers.append((name, w.astype(np.float64), None if b is None else b.astype(np.float64),
                       extra))
    for key in files:
        name = key.rsplit(".", 1)[0]
        if name not in seen:
            raise ValueError(f"{path}: {key} has no {name}.weight")
    if not layers:
        raise ValueError(f"{path}: no NAME.weight arrays")
    check_network(layers, where=f"{path}: ")
    return layers


def check_network(layers, where=""):
    """Check a ``[(name, weight, bias, extra)]`` network before any work: LeNet
    order (conv layers, then FC layers), each layer's inputs match the previous
    layer's outputs, conv stride >= 1 and padding smaller than the kernel."""
    prev = None
    for name, w, _, extra in layers:
        kind = "fc" if w.ndim == 2 else "conv"
        if kind == "conv":
            stride, padding = extra.get("stride", 1), extra.get("padding", 0)
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
                raise ValueError(f"{where}layer {name!r}: stride must be an integer >= 1, "
                                 f"not {stride!r}")
            k = min(w.shape[2:])
            if isinstance(padding, bool) or not isinstance(padding, int) \
                    or not 0 <= padding < k:
                raise ValueError(f"{where}layer {name!r}: padding must be an integer in "
                                 f"0..{k - 1} (smaller than the {w.shape[2]}x{w.shape[3]} "
                                 f"kernel), not {padding!r}")
        if prev is not None:
            p_name, p_kind, p_out = prev
            if kind == "conv" and p_kind == "fc":
                raise ValueError(f"{where}layer {name!r}: a conv layer after the FC layer "
                                 f"{p_name!r}; conv layers must come first")
            if kind == p_kind and w.shape[1] != p_out:
                raise ValueError(f"{where}layer {name!r}: takes {w.shape[1]} "
                                 f"{'inputs' if kind == 'fc' else 'input channels'} but "
                                 f"layer {p_name!r} gives {p_out}")
        prev = (name, kind, w.shape[0])


def _huffman_bytes(symbols, symbol_bits):
    return math.ceil(huffman.coded_bits(symbols, symbol_bits) / 8) if len(symbols) else 0


def relative_index(mask, gap_bits=4):
    """Deep Compression's relative index over the row-major flattened mask: per
    entry the gap since the previous entry (``gap_bits`` bits); a gap larger than
    ``2**gap_bits - 1`` inserts filler entries (a zero weight).  Returns
    ``(gaps, is_filler)``."""
    positions = np.flatnonzero(np.asarray(mask).reshape(-1))
    limit = (1 << gap_bits) - 1
    gaps, filler = [], []
    prev = -1
    for p in positions:
        gap = int(p - prev - 1)
        while gap > limit:
            gaps.append(limit)
            filler.append(True)
            gap -= limit + 1
        gaps.append(gap)
        filler.append(False)
        prev = p
    return np.array(gaps, dtype=np.int64), np.array(filler, dtype=bool)


def _figures(original, w_p, i_p, w_q, i_q, w_c, i_c, n_weights, extra):
    fig = {
        "W_p": w_p, "I_p": i_p, "W_q": w_q, "I_q": i_q, "W_c": w_c, "I_c": i_c,
        "r_p": original / max(1, w_p + i_p), "r_q": original / max(1, w_q + i_q),
        "r_c": original / max(1, w_c + i_c),
        "bits_per_weight": 8 * (w_c + i_c) / max(1, n_weights),
        "index_bytes": i_c,
        "weights_kept": int(n_weights),
    }
    fig.update(extra)
    return fig


def baseline_figures(weights, target_sparsity, bits):
    """The fine-grained Deep Compression baseline of one layer: figures and its mask."""
    w = np.asarray(weights, dtype=np.float64)
    mask, _ = prune(w, (1,) * w.ndim, target_sparsity, "max")
    gaps, filler = relative_index(mask)
    entries = gaps.size
    original = 4 * w.size
    w_p = 4 * entries
    i_p = math.ceil(entries * 4 / 8)
    if slot_bits(bits) == 16:
        w_q = 2 * entries
        codes = np.round(w[mask] * 256).astype(np.int64)
        w_c = _huffman_bytes(codes - codes.min() if codes.size else codes, 16)
        books = 0
    else:
        q = quantize(w, mask, bits, region=None, zero_code=True)
        books = 2 * (1 << bits)
        w_q = math.ceil(entries * bits / 8) + books
        stored = np.zeros(entries, dtype=np.int64)  # fillers take code 0 (the zero)
        stored[~filler] = q["codes"][mask.reshape(mask.shape[0], -1)]
        w_c = _huffman_bytes(stored, bits) + books
    i_c = min(i_p, _huffman_bytes(gaps, 4))
    return _figures(original, w_p, i_p, w_q, i_p, w_c, i_c, int(mask.sum()),
                    {"sparsity": sparsity(mask), "entries": entries,
                     "fillers": int(filler.sum())}), mask


def layer_block(name, shape, kind, cfg):
    block = cfg.block_fc if kind == "fc" else cfg.block_conv
    block = check_block(shape, block, f"block of layer {name!r}")
    block = align_block(block, cfg.tn_align) if cfg.tn_align else block
    if layer_target(name, kind, cfg) > 0 and all(b >= n for b, n in zip(block, shape)):
        raise ValueError(f"layer {name!r}: block {tuple(block)} covers the whole layer "
                         f"{tuple(shape)}, so pruning could only keep it all or remove it all; "
                         f"give --block-{kind} with extents smaller than the layer's")
    return block


def layer_target(name, kind, cfg):
    return 0.0 if name in cfg.skip else (cfg.sparsity_fc if kind == "fc" else cfg.sparsity_conv)


def compress_layer(name, weights, bias, kind, cfg, *, f_in, f_out, activation, extra=None,
                   retrain=None, pruned=None):
    """Coarse prune + local quantization + Huffman of one layer.

    ``pruned=(weights, mask, block_mask)`` skips the pruning (a network-level
    schedule did it).  Returns ``(Layer, figures)``; ``figures`` include the
    baseline's under ``baseline``.
    """
    w = np.asarray(weights, dtype=np.float64)
    block = layer_block(name, w.shape, kind, cfg)
    target = layer_target(name, kind, cfg)
    bits = cfg.bits_fc if kind == "fc" else cfg.bits_conv
    region = cfg.region_fc if kind == "fc" else cfg.region_conv
    if pruned is None:
        w_pruned, mask, block_mask = iterative_prune(w, block, target, steps=cfg.steps,
                                                     score=cfg.score, retrain=retrain)
    else:
        w_pruned, mask, block_mask = pruned
    if not mask.any():
        raise ValueError(f"layer {name!r}: every weight was pruned (target sparsity "
                         f"{target:g}, block {tuple(block)}); lower the sparsity or the block")
    warnings = []
    if target > 0 and abs(sparsity(mask) - target) > 0.05:
        warnings.append(f"layer {name!r}: sparsity {100 * sparsity(mask):.1f} % instead of the "
                        f"target {100 * target:.1f} %: its {block_mask.size} blocks of "
                        f"{tuple(block)} are too coarse for it")
    zero_code = not (cfg.tn_align and block[0] % cfg.tn_align == 0)
    q = quantize(w_pruned, mask, bits, region=region, zero_code=zero_code and bits <= 8)
    nonzero = mask & (w_pruned != 0)
    lost = nonzero & (q["weight"] == 0)
    if nonzero.any() and lost.sum() > nonzero.sum() / 2:
        warnings.append(f"layer {name!r}: {100 * lost.sum() / nonzero.sum():.0f} % of its kept "
                        f"weights quantize to 0: the largest |w|, "
                        f"{float(np.abs(w_pruned[mask]).max()):g}, leaves f_w = {q['f_w']} "
                        f"fractional bits (an outlier? clip it, or use --region-{kind})")
    view_mask = mask.reshape(mask.shape[0], -1)
    codes = q["codes"][view_mask]
    f_w = q["f_w"]
    if f_out > f_in + f_w:
        f_out = f_in + f_w
    scale = float(1 << (f_in + f_w))
    b = np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    if not np.isfinite(b).all():
        raise ValueError(f"layer {name!r}: the bias holds NaN or infinite values")
    b_scaled = np.round(b * scale)
    over = np.abs(b_scaled) > (1 << 31) - 1
    if over.any():
        k = int(np.flatnonzero(over)[0])
        raise ValueError(f"layer {name!r}: bias {b[k]:g} of output {k} does not fit int32 at "
                         f"f_in + f_w = {f_in + f_w} fractional bits "
                         f"(|bias| < {((1 << 31) - 1) / scale:g})")
    b_int = b_scaled.astype(np.int32)
    layer = Layer(name=name, kind=kind, shape=tuple(w.shape), block=tuple(block), bits=bits,
                  block_mask=block_mask, codes=codes, codebooks=q["codebooks"], bias=b_int,
                  f_in=f_in, f_w=f_w, f_out=f_out, activation=activation,
                  region=region if q["slot"] != 16 else None,    # raw weights: no codebook
                  zero_code=bool(zero_code and bits <= 8),
                  stride=(extra or {}).get("stride", 1), padding=(extra or {}).get("padding", 0))

    # Coarse figures.
    n_kept = int(mask.sum())
    original = 4 * w.size
    n_blocks = block_mask.size
    i_p = math.ceil(n_blocks / 8)
    if q["slot"] == 16:
        books, w_q = 0, 2 * n_kept
        w_c = _huffman_bytes(codes - codes.min() if codes.size else codes, 16)
    else:
        (g_out, g_in), _ = region_grid(w.shape, region)
        books = 2 * g_out * g_in * (1 << bits)
        w_q = math.ceil(n_kept * bits / 8) + books
        w_c = _huffman_bytes(codes, bits) + books
    i_c = min(i_p, math.ceil(huffman.coded_bits(np.packbits(block_mask.reshape(-1)), 8) / 8))
    base, fine_mask = baseline_figures(w, sparsity(mask), bits)
    ratio, fine_bytes, coarse_bytes, compressor = r_irr(fine_mask, mask)
    fig = _figures(original, 4 * n_kept, i_p, w_q, i_p, w_c, i_c, n_kept, {
        "name": name, "kind": kind, "shape": list(w.shape), "block": list(block),
        "bits": bits,
        "regions": 1 if region is None else int(np.prod(region_grid(w.shape, region)[0])),
        "sparsity": sparsity(mask), "target_sparsity": target,
        "R_irr": ratio, "irr_fine_bytes": fine_bytes, "irr_coarse_bytes": coarse_bytes,
        "irr_compressor": compressor, "f_w": f_w, "original_bytes": original,
        "warnings": warnings,
    })
    base["R_irr"] = 1.0
    fig["baseline"] = base
    return layer, fig


def prune_network(layers, cfg, retrain=None, progress=None):
    """The network-level iterative schedule: prune every layer a step further, then
    ``retrain(weights, masks)`` (a list each, returning new weights) the whole
    network, ``cfg.steps`` times.  Returns ``[(weights, mask, block_mask)]``."""
    ws = [np.asarray(w, dtype=np.float64).copy() for _, w, _, _ in layers]
    keeps = [None] * len(layers)
    masks = [None] * len(layers)
    for step in range(1, cfg.steps + 1):
        for i, (name, w, _, _) in enumerate(layers):
            kind = "fc" if w.ndim == 2 else "conv"
            block = layer_block(name, w.shape, kind, cfg)
            target = layer_target(name, kind, cfg) * step / cfg.steps
            masks[i], keeps[i] = prune(ws[i], block, target, cfg.score, keeps[i])
            ws[i] = ws[i] * masks[i]
        if retrain is not None:
            ws = [np.asarray(w, dtype=np.float64) * m for w, m in zip(retrain(ws, masks), masks)]
        if progress:
            progress(step, [sparsity(m) for m in masks])
    return list(zip(ws, masks, keeps))


def compress_network(layers, cfg, progress=None, pruned=None):
    """Compress ``[(name, weight, bias, extra)]``; return ``(Model, report)``.

    Pruning runs per layer (:func:`golden.compression.prune.iterative_prune`), or, when
    ``pruned`` (from :func:`prune_network`) is given, is taken from there.
    """
    cfg.validate()
    check_network(layers)
    out_layers, rows = [], []
    f_in = cfg.f_in
    for i, (name, w, b, extra) in enumerate(layers):
        kind = "fc" if w.ndim == 2 else "conv"
        act = cfg.activation if i < len(layers) - 1 else "identity"
        layer, fig = compress_layer(name, w, b, kind, cfg, f_in=f_in, f_out=cfg.f_act,
                                    activation=act, extra=extra,
                                    pruned=None if pruned is None else pruned[i])
        out_layers.append(layer)
        rows.append(fig)
        f_in = layer.f_out
        if progress:
            progress(name, fig)
    return Model(out_layers, {"config": _config_dict(cfg)}), _report(rows)


def _config_dict(cfg):
    d = asdict(cfg)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _total(rows, key):
    keys = ("W_p", "I_p", "W_q", "I_q", "W_c", "I_c")
    src = [r if key is None else r[key] for r in rows]
    tot = {k: sum(s[k] for s in src) for k in keys}
    original = sum(r["original_bytes"] for r in rows)
    kept = sum(s["weights_kept"] for s in src)
    return _figures(original, tot["W_p"], tot["I_p"], tot["W_q"], tot["I_q"], tot["W_c"],
                    tot["I_c"], kept, {"sparsity": 1 - kept / max(1, original // 4)})


def _report(rows):
    total = _total(rows, None)
    fine = sum(r["irr_fine_bytes"] for r in rows)
    coarse = sum(r["irr_coarse_bytes"] for r in rows)
    total["R_irr"] = fine / max(1, coarse)
    total["baseline"] = _total(rows, "baseline")
    total["baseline"]["R_irr"] = 1.0
    return {"layers": rows, "total": total,
            "irregularity_compressor": rows[0]["irr_compressor"] if rows else None}


def _kb(n):
    return f"{n / 1024:.2f} K" if n >= 1024 else f"{n} B"


def write_report(report, outdir, title="Compression report", extra_md=""):
    """Write ``report.json`` and ``report.md`` into ``outdir``."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_json(out / "report.json", report, default=float)
    lines = [f"# {title}", "",
             "Coarse-grained pruning + local quantization + Huffman (coarse) beside "
             "fine-grained pruning + global quantization + Huffman + 4-bit relative "
             "indices (Deep Compression baseline), at the same sparsity.  Original: "
             "32-bit floats.  W: weights (+ codebooks), I: index.", "",
             "| layer | method | sparsity | W_p | I_p | r_p | W_q | r_q | W_c | I_c | r_c "
             "| bits/weight | R(Irr) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["layers"] + [dict(report["total"], name="**total**")]:
        for method, r in (("coarse", row), ("baseline", row["baseline"])):
            lines.append(
                f"| {row['name'] if method == 'coarse' else ''} | {method} | "
                f"{100 * r['sparsity']:.2f} % | {_kb(r['W_p'])} | {_kb(r['I_p'])} | "
                f"{r['r_p']:.1f}x | {_kb(r['W_q'])} | {r['r_q']:.1f}x | {_kb(r['W_c'])} | "
                f"{_kb(r['I_c'])} | {r['r_c']:.1f}x | {r['bits_per_weight']:.2f} | "
                f"{r['R_irr']:.2f}x |")
    lines += ["", f"R(Irr) compressor: {report.get('irregularity_compressor')}.", extra_md]
    atomic_write(out / "report.md", "\n".join(lines) + "\n")


def _pair(text, n, name):
    try:
        parts = tuple(int(x) for x in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {n} integers like "
                                         f"{','.join(['16'] * n)}, not {text!r}") from None
    if len(parts) != n or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected {n} positive integers, not {text!r}")
    return parts


def _parser():
    p = ArgumentParser(
        prog="python -m golden.compress",
        description="Compress a network's weights (coarse-grained pruning, local "
                    "quantization, Huffman) and report it beside the fine-grained "
                    "Deep Compression baseline.",
        epilog="Input: an .npz of float arrays NAME.weight (fc: N_out x N_in, conv: "
               "N_fout x N_fin x K_y x K_x) with optional NAME.bias, in layer order.")
    p.add_argument("weights", help="input .npz of float weights")
    p.add_argument("-o", "--output", required=True, help="the compressed model file (.npz)")
    p.add_argument("--report", metavar="DIR", help="write DIR/report.md and DIR/report.json")
    p.add_argument("--block-fc", type=lambda t: _pair(t, 2, "--block-fc"), default=(16, 16),
                   help="FC pruning block B_out,B_in (default 16,16)")
    p.add_argument("--block-conv", type=lambda t: _pair(t, 4, "--block-conv"),
                   default=(16, 1, 1, 1), help="conv pruning block (default 16,1,1,1)")
    p.add_argument("--sparsity", type=float, help="target sparsity for every layer")
    p.add_argument("--sparsity-fc", type=float, default=0.9, help="FC target (default 0.9)")
    p.add_argument("--sparsity-conv", type=float, default=0.6, help="conv target (default 0.6)")
    p.add_argument("--score", choices=["max", "avg"], default="avg", help="block score")
    p.add_argument("--bits-fc", type=int, default=4, help="FC index bits (default 4)")
    p.add_argument("--bits-conv", type=int, default=8, help="conv index bits (default 8)")
    p.add_argument("--region-fc", type=lambda t: _pair(t, 2, "--region-fc"),
                   help="FC quantization region r_out,r_in (default: one per layer)")
    p.add_argument("--region-conv", type=lambda t: _pair(t, 2, "--region-conv"),
                   help="conv region over (N_fout, N_fin*K_y*K_x)")
    p.add_argument("--tn-align", type=int, help="align output blocks to this Tn (exact unions)")
    p.add_argument("--steps", type=int, default=3, help="pruning steps (default 3)")
    p.add_argument("--f-in", type=int, default=8, help="fractional bits of the input (default 8)")
    p.add_argument("--f-act", type=int, default=8,
                   help="fractional bits of every layer's output (default 8)")
    p.add_argument("--activation", choices=list(ACTIVATIONS), default="relu",
                   help="activation of hidden layers (the last is identity)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    prog = "python -m golden.compress"

    def body():
        if args.sparsity is not None and not 0 <= args.sparsity < 1:
            raise UsageError(f"--sparsity must be in [0, 1) (a layer keeps at least one "
                             f"block), not {args.sparsity}")
        cfg = CompressConfig(
            block_fc=args.block_fc, block_conv=args.block_conv,
            sparsity_fc=args.sparsity if args.sparsity is not None else args.sparsity_fc,
            sparsity_conv=args.sparsity if args.sparsity is not None else args.sparsity_conv,
            score=args.score, bits_fc=args.bits_fc, bits_conv=args.bits_conv,
            region_fc=args.region_fc, region_conv=args.region_conv, tn_align=args.tn_align,
            steps=args.steps, f_in=args.f_in, f_act=args.f_act, activation=args.activation,
            seed=args.seed)
        cfg.validate()
        output_file(args.output, "-o/--output")
        output_dir(args.report, "--report")
        layers = read_weights(args.weights)
        for name, w, _, _ in layers:       # every layer's block, before any work
            layer_block(name, w.shape, "fc" if w.ndim == 2 else "conv", cfg)

        def progress(name, fig):
            print(f"  {name}: sparsity {100 * fig['sparsity']:.1f} %, r_c {fig['r_c']:.1f}x "
                  f"(baseline {fig['baseline']['r_c']:.1f}x), R(Irr) {fig['R_irr']:.1f}x",
                  flush=True)
            for text in fig["warnings"]:
                warn(prog, text)
        model, report = compress_network(layers, cfg, progress=progress)
        save(model, args.output)
        t = report["total"]
        print(f"wrote {args.output}: {len(model.layers)} layers, r_c {t['r_c']:.1f}x "
              f"(baseline {t['baseline']['r_c']:.1f}x), R(Irr) {t['R_irr']:.1f}x")
        if args.report:
            write_report(report, args.report)
            print(f"wrote {args.report}/report.md and report.json")
        return 0
    return run_main(prog, body)


if __name__ == "__main__":
    sys.exit(main())
