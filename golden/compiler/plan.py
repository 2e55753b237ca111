"""Compiler stage 1, **plan**: what each layer needs in the accelerator's buffers.

Per FC layer (a conv layer runs as FC over its patches, :mod:`golden.twins.conv`):
the outputs in groups of ``tn`` (one per PE), each group's shared synapse bitmap
(the union of its rows' nonzero positions) in the SIB layout of
:mod:`golden.contract.sib` (window masks where they feed fewer windows:
``COMPUTE.skip``), each PE's weights at every set position of that bitmap,
packed at the layer's slot width (codebook indices; explicit zeros use a
codebook entry 0) or as raw int16 — in dense mode, above 8 bits, where the
configuration lacks the width, or where a region has no zero entry for an
explicit zero (:attr:`LayerPlan.why_raw` says which) — and the biases.  Where
the quantization regions split the rows (a row's weights come from several
codebooks, one lookup table per COMPUTE), the codebooks are merged into one
table of their distinct values (:func:`merged_book`) with 4- or 8-bit indices
when that moves fewer words than raw int16 (:attr:`LayerPlan.merged`).
:func:`chunks` splits a run of groups into what one buffer half holds.
"""

from dataclasses import dataclass

import numpy as np

from golden.compression.quantize import region_grid
from golden.contract import sib as golden_sib
from golden.contract.fixed import output_shift
from golden.contract.isa import Slot
from golden.contract.model import decompress
from golden.contract.packing import pack
from golden.twins.wdm import table_depth

__all__ = ["CompileError", "LayerPlan", "plan_layer", "plan_model", "chunks"]


class CompileError(ValueError):
    """The model cannot be compiled for this configuration; the message names the
    layer and the parameter."""


@dataclass
class LayerPlan:
    """One layer, ready to place: ``groups`` groups of ``tn`` outputs over
    ``windows`` NSM windows."""
    name: str
    n_in: int
    n_out: int
    windows: int
    groups: int
    slot: Slot                 # the SB words' slot width
    why_raw: str | None        # why the weights are raw int16 (None: codebook indices)
    books: np.ndarray | None   # int codebooks (regions, 2**bits), LUT mode only
    region_of_row: np.ndarray  # the quantization region of each (padded) output row
    sib: list                  # per group its SIB rows: (rows, W) bool
    skip: bool                 # the SIB rows hold window masks (COMPUTE.skip)
    sb: list                   # per group, per PE, its packed SB words
    bias: np.ndarray           # (groups, tn) int
    shift: int                 # the output stage's shift
    activation: str
    f_in: int
    f_out: int
    #: the model layer's outputs this plan computes, in order (None: all of them;
    #: :func:`drop_dead_groups` leaves out groups that change nothing downstream)
    kept: np.ndarray | None = None
    #: the groups of the model layer left out (``kept`` holds the rest): without a
    #: weight (their constant outputs folded into the next layer's bias), and
    #: feeding only pruned weights of the next layer
    dead_groups: int = 0
    unused_groups: int = 0
    #: the regions whose codebooks one merged table holds (0: none merged;
    #: :func:`merged_book`)
    merged: int = 0

    @property
    def sib_rows(self):
        return [len(rows) for rows in self.sib]

    @property
    def sb_words(self):
        return [len(words[0]) for words in self.sb]

    def same_regions(self, g, h, tn):
        """Whether groups ``g`` and ``h`` keep every PE in one quantization region
        (one LUT load per PE serves both)."""
        return all(self.region_of_row[g * tn + j] == self.region_of_row[h * tn + j]
                   for j in range(tn))


def _weight_mode(layer, cfg, dense, n_out, rows, kept=None):
    """``(slot, why_raw, books, region_of_row, merged)`` of a layer (``kept``: the
    model layer's rows it computes, :func:`drop_dead_groups`; default all;
    ``merged``: the regions one merged table holds, else 0)."""
    region_of_row = np.zeros(rows, dtype=np.int64)
    if dense:
        return Slot.W16, "dense mode", None, region_of_row, 0
    if layer.bits > 8:
        return Slot.W16, f"{layer.bits}-bit weights", None, region_of_row, 0
    (_, g_in), (r_out, _) = region_grid(layer.shape, layer.region)
    if g_in > 1:
        why = f"regions split the rows (region {layer.region})"
        book = merged_book(layer.codebooks)
        slot = next((b for b in (4, 8) if b in cfg.widths and book.size <= 1 << b
                     and book.size <= table_depth(cfg.widths)), None)
        if slot is None:
            return (Slot.W16, f"{why}, and their {book.size} distinct values fit no configured "
                    f"width's table", None, region_of_row, 0)
        return Slot.of(slot), None, book[None, :], region_of_row, len(layer.codebooks)
    if layer.slot not in cfg.widths:
        return (Slot.W16, f"{layer.slot}-bit slots not in the configured widths {cfg.widths}",
                None, region_of_row, 0)
    region_of_row[:n_out] = (np.arange(n_out) if kept is None else kept) // r_out
    return (Slot.of(layer.slot), None, np.asarray(layer.codebooks, dtype=np.int64),
            region_of_row, 0)


def merged_book(codebooks):
    """One lookup table for codebooks ``(regions, entries)``: their distinct values,
    0 first (an explicit zero's code).  A row whose weights come from several
    regions decodes through it exactly as through its own regions' tables."""
    values = np.unique(np.asarray(codebooks, dtype=np.int64))
    return np.concatenate([[0], values[values != 0]]).astype(np.int64)


def _codes(rows, books, region_of_row, g, tn, n_out):
    """``(codes, None)``: codebook indices of a group's stored weights ``rows``
    ``(tn, stored)``; or ``(None, r)`` when output row ``r``'s region has no entry for
    one of them (an explicit zero)."""
    codes = np.zeros_like(rows)
    for j in range(tn):
        r = g * tn + j
        if r >= n_out:
            continue      # a padding row: its output is never read, any code will do
        lookup = {int(v): k for k, v in reversed(list(enumerate(books[region_of_row[r]])))}
        for c, v in enumerate(rows[j]):
            if int(v) not in lookup:
                return None, r
            codes[j, c] = lookup[int(v)]
    return codes, None


def plan_layer(layer, dec, cfg, dense, force_raw=None):
    """The :class:`LayerPlan` of a model layer (``dec``: its :func:`decompress` entry).
    ``force_raw`` (a reason) stores raw int16 weights whatever the layer's width."""
    name = dec["name"]
    if dec["kind"] != "fc":
        raise CompileError(f"layer {name!r}: kind {dec['kind']!r} is not supported by the "
                           f"compiler (fc; a conv layer runs as FC over its patches)")
    w = dec["weight"].astype(np.int64)
    n_out, n_in = w.shape
    W, tn, tm = cfg.window, cfg.tn, cfg.tm
    if dec["activation"] not in cfg.activations:
        raise CompileError(f"layer {name!r}: activation {dec['activation']!r} is not among the "
                           f"configuration's activations ({', '.join(cfg.activations)}; "
                           f"parameter activations)")
    windows = -(-n_in // W)
    if windows > cfg.half(cfg.window_rows):
        raise CompileError(
            f"layer {name!r}: {n_in} inputs need {windows} NSM windows of {W}, but an NBin "
            f"half holds {cfg.half(cfg.window_rows)} (parameter nbin_bytes/nibin_bytes)")
    groups = -(-n_out // tn)
    padded = np.zeros((groups * tn, windows * W), dtype=np.int64)
    padded[:n_out, :n_in] = w
    bias = np.zeros(groups * tn, dtype=np.int64)
    bias[:n_out] = dec["bias"]
    if force_raw:
        slot, why_raw, books, region_of_row, merged = (Slot.W16, force_raw, None,
                                                       np.zeros(groups * tn, dtype=np.int64), 0)
    else:
        slot, why_raw, books, region_of_row, merged = _weight_mode(
            layer, cfg, dense, n_out, groups * tn, dec.get("kept"))
    if slot == Slot.W16 and 16 not in cfg.widths:
        raise CompileError(f"layer {name!r}: needs raw 16-bit weights ({why_raw}) but the "
                           f"configuration's widths are {cfg.widths}")

    bitmaps, sb = [], []
    for g in range(groups):
        rows = padded[g * tn:(g + 1) * tn]
        shared = np.ones(windows * W, dtype=bool) if dense else (rows != 0).any(axis=0)
        stored = rows[:, shared]
        if slot != Slot.W16:
            stored, bad = _codes(stored, books, region_of_row, g, tn, n_out)
            if stored is None:
                return plan_layer(layer, dec, cfg, dense, force_raw=(
                    f"row {bad}'s region has no codebook entry 0 for an explicit zero "
                    f"(recompress with --tn-align {tn})"))
        sb.append([pack(stored[j], slot.bits, tm) for j in range(tn)])
        bitmaps.append(shared.reshape(windows, W))
    # The SIB layout: window masks where they feed fewer windows than there are,
    # else every window's row; dense mode reads none.
    packed = [golden_sib.pack(rows) for rows in bitmaps] if not dense else []
    skip = bool(packed) and sum(len(m) + len(r) for m, r in packed) < groups * windows
    if skip:
        sib = [np.concatenate([m, r]) for m, r in packed]
    elif dense:
        sib = [np.zeros((0, W), dtype=bool)] * groups
    else:
        sib = bitmaps
    plan = LayerPlan(name=name, n_in=n_in, n_out=n_out, windows=windows, groups=groups,
                     slot=slot, why_raw=why_raw, books=books, region_of_row=region_of_row,
                     sib=sib, skip=skip, sb=sb, bias=bias.reshape(groups, tn),
                     shift=output_shift(dec["f_in"], dec["f_w"], dec["f_out"]),
                     activation=dec["activation"], f_in=dec["f_in"], f_out=dec["f_out"],
                     kept=dec.get("kept"), dead_groups=dec.get("dead_groups", 0),
                     unused_groups=dec.get("unused_groups", 0), merged=merged)
    if merged:
        # (a merged table's indices against raw int16: the fewer words, the SB's
        # and the table's, which every PE's LOAD of it moves once)
        raw = plan_layer(layer, dec, cfg, dense, force_raw=(
            f"regions split the rows (region {layer.region}), and raw int16 moves fewer "
            f"words than their merged table"))
        w = cfg.words
        table = -(-books.size // w["values_per_word"])
        if sum(raw.sb_words) * w["sb"] * tn <= sum(plan.sb_words) * w["sb"] * tn + table:
            return raw
    if max(plan.sib_rows, default=0) > cfg.half(cfg.sib_rows):
        raise CompileError(f"layer {name!r}: one group's synapse bitmap needs "
                           f"{max(plan.sib_rows)} SIB rows, a SIB half holds "
                           f"{cfg.half(cfg.sib_rows)} (parameter sib_bytes)")
    if max(plan.sb_words, default=0) > cfg.half(cfg.sb_words):
        raise CompileError(f"layer {name!r}: one group needs {max(plan.sb_words)} SB words, "
                           f"an SB half holds {cfg.half(cfg.sb_words)} (parameter sb_bytes)")
    return plan


def dead_groups(decs, tn):
    """Per layer but the last, ``(groups, outputs)``: the groups of ``tn`` outputs (of its
    :func:`~golden.contract.model.decompress` entry) whose every weight is pruned,
    and the layer's outputs on a zero input (a dead group's outputs whatever the
    input: its activation of its bias alone); a layer keeps at least one group."""
    from golden.twins.infer import fc_layer
    out = []
    for dec in decs[:-1]:
        w = dec["weight"]
        const = fc_layer(dec, np.zeros((1, w.shape[1]), dtype=np.int16))[0]
        groups = -(-w.shape[0] // tn)
        dead = [g for g in range(groups) if not w[g * tn:(g + 1) * tn].any()]
        out.append((dead if len(dead) < groups else dead[1:], const))
    return out


def unused_groups(a, b, tn):
    """The groups of ``tn`` outputs of layer entry ``a`` that no weight of the next
    layer's ``b`` uses (its columns there all pruned); at least one group stays."""
    used = (b["weight"] != 0).any(axis=0)
    groups = -(-a["weight"].shape[0] // tn)
    unused = [g for g in range(groups) if not used[g * tn:(g + 1) * tn].any()]
    return unused if len(unused) < groups else unused[1:]


def _drop(decs, li, groups, tn, key, const=None):
    """Leave groups ``groups`` of layer ``li`` out, and the next layer's inputs they
    feed; with ``const`` (their outputs whatever the input) fold those, times the
    next layer's weights on them, into its bias.  False (nothing changed) if that
    bias would leave int32."""
    a, b = decs[li], decs[li + 1]
    gone = np.zeros(a["weight"].shape[0], dtype=bool)
    for g in groups:
        gone[g * tn:(g + 1) * tn] = True
    bias = b["bias"].astype(np.int64)
    if const is not None:
        bias = bias + b["weight"][:, gone].astype(np.int64) @ const[gone].astype(np.int64)
        if bias.size and (bias.min() < -(1 << 31) or bias.max() >= 1 << 31):
            return False
    kept = np.flatnonzero(~gone)
    a["weight"], a["bias"] = a["weight"][kept], a["bias"][kept]
    a["kept"] = kept if a.get("kept") is None else a["kept"][kept]
    a[key] = a.get(key, 0) + len(groups)
    b["weight"], b["bias"] = b["weight"][:, kept], bias.astype(b["bias"].dtype)
    return True


def drop_dead_groups(decs, tn):
    """``decs`` (:func:`~golden.contract.model.decompress` entries of FC layers that
    chain) without the groups of outputs that change nothing the next layer
    computes, their rows left out of the layer and the inputs they feed out of
    the next layer: the :func:`dead_groups`, whose constant outputs times the
    next layer's weights on them go into its bias (the accumulator is exact, so
    the sum is the same in any order; a layer whose bias would leave int32 keeps
    them), and the :func:`unused_groups`, whose outputs only meet pruned
    weights.  Repeated until nothing changes (leaving out a layer's unused
    groups may leave the layer before with some).  The network computes exactly
    what it did, bit for bit.  Each entry left short gets ``kept``, the model
    layer's outputs it still computes, and the counts ``dead_groups`` and
    ``unused_groups``."""
    decs = [dict(d) for d in decs]
    changed = True
    while changed:
        changed = False
        for li, (dead, const) in enumerate(dead_groups(decs, tn)):
            changed |= bool(dead) and _drop(decs, li, dead, tn, "dead_groups", const)
        for li in reversed(range(len(decs) - 1)):
            unused = unused_groups(decs[li], decs[li + 1], tn)
            changed |= bool(unused) and _drop(decs, li, unused, tn, "unused_groups")
    return decs


def plan_model(model, cfg, dense, n_in):
    """Every layer's plan; the layers must chain, from ``n_in`` inputs.  Sparse,
    a chain of FC layers leaves out the groups of outputs without a weight (their
    constants folded into the next layer's bias) or unused by the next layer
    (:func:`drop_dead_groups`): the COMPUTEs skip them, the STOREs and the next
    layer's inputs carry fewer rows."""
    decs = decompress(model)
    if not dense and len(decs) > 1 and all(d["kind"] == "fc" for d in decs) and all(
            a["weight"].shape[0] == b["weight"].shape[1] for a, b in zip(decs, decs[1:])):
        decs = drop_dead_groups(decs, cfg.tn)
    plans = [plan_layer(layer, dec, cfg, dense) for layer, dec in zip(model.layers, decs)]
    if n_in != plans[0].n_in:
        raise CompileError(f"inputs have {n_in} values per vector; layer "
                           f"{plans[0].name!r} takes {plans[0].n_in}")
    for a, b in zip(plans, plans[1:]):
        if a.n_out != b.n_in:
            raise CompileError(f"layer {b.name!r}: takes {b.n_in} inputs, layer "
                               f"{a.name!r} gives {a.n_out}")
    return plans


def chunks(plan, cfg, g_lo, g_hi):
    """Split groups ``[g_lo, g_hi)`` into runs that fit the SB, SIB and bias halves
    and keep every PE in one quantization region."""
    out, start = [], g_lo
    words_of, rows_of = plan.sb_words, plan.sib_rows
    while start < g_hi:
        words = rows = 0
        end = start
        while end < g_hi:
            if (words + words_of[end] > cfg.half(cfg.sb_words)
                    or rows + rows_of[end] > cfg.half(cfg.sib_rows)
                    or end - start + 1 > cfg.half(cfg.bias_rows)):
                break
            if plan.slot != Slot.W16 and end > start and \
                    not plan.same_regions(start, end, cfg.tn):
                break
            words += words_of[end]
            rows += rows_of[end]
            end += 1
        if end == start:
            raise CompileError(f"layer {plan.name!r}: group {start} does not fit the buffers")
        out.append((start, end))
        start = end
    return out
