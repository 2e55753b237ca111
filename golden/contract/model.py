"""The compressed model file (docs/architecture.md §2): one versioned ``.npz``, no pickle.

Layout (format ``sparsegen-model``, version 1).  The archive holds:

``header``          uint8: UTF-8 JSON ``{"format", "version", "layers": [...], "meta"}``
``L<i>.block_mask`` uint8: the layer's block mask, ``np.packbits`` of the block grid
                    flattened row-major (a kept block is 1)
``L<i>.indices``    uint8: the stored weights of the kept blocks, in row-major
                    element order, packed by :mod:`golden.contract.packing` at the layer's
                    slot width in 64-bit words (little-endian), slot after slot
                    (``interleaved=False``, not the SB words' lanes): codebook indices
                    for ``bits <= 8``, raw int16 weights above
``L<i>.codebooks``  int16 ``(regions, 2**bits)``: one codebook per region (``bits <= 8``)
``L<i>.bias``       int32 ``(N_out,)``: the bias at ``f_in + f_w`` fractional bits

The zip comment holds ``sparsegen-sha256:`` and the SHA-256 of the file as
written with an empty comment, so that any damaged byte is detected.

Each header layer entry: ``name``, ``kind`` ("fc" or "conv"), ``shape`` (FC
``[N_out, N_in]``, conv ``[N_fout, N_fin, K_y, K_x]``), ``block`` (one extent per
dimension), ``bits``, ``slot``, ``region`` (``[r_out, r_in]`` over the layer's 2-D
view, or null for one region), ``count`` (stored weights), ``zero_code`` (code
0 is the value 0), ``f_in``, ``f_w``, ``f_out``, ``activation``, and for conv
``stride`` and ``padding``.

:func:`save` writes atomically (a temporary file, then a rename).  :func:`load`
checks everything and raises :class:`ModelFormatError` (a ``ValueError``)
naming the layer and the field; it never returns a half-valid model and never
raises another exception type for a bad file.
"""

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golden.cli import atomic_write
from golden.compression.prune import block_grid, block_sizes, expand
from golden.compression.quantize import region_grid, region_index
from golden.contract.activation import ACT_FRAC
from golden.contract.fixed import ACTIVATIONS, NONLINEAR
from golden.contract.packing import (
    bytes_to_words,
    pack,
    slot_bits,
    slots_per_word,
    unpack,
    words_to_bytes,
)

__all__ = ["FORMAT", "VERSION", "KINDS", "ModelFormatError", "Layer", "Model", "save", "load",
           "decompress"]

FORMAT = "sparsegen-model"
VERSION = 1
KINDS = ("fc", "conv")


class ModelFormatError(ValueError):
    """A model file (or model) is malformed; the message names the layer and field."""


@dataclass
class Layer:
    """One compressed layer.

    ``block_mask`` is the bool block grid; ``codes`` holds one entry per kept
    weight in row-major element order (codebook index, or raw int16 above 8 bits);
    ``codebooks`` is int16 ``(regions, 2**bits)`` or None; ``bias`` int32.
    """
    name: str
    kind: str
    shape: tuple
    block: tuple
    bits: int
    block_mask: np.ndarray
    codes: np.ndarray
    codebooks: np.ndarray | None
    bias: np.ndarray
    f_in: int
    f_w: int
    f_out: int
    activation: str = "identity"
    region: tuple | None = None
    zero_code: bool = False
    stride: int = 1
    padding: int = 0

    @property
    def slot(self):
        return slot_bits(self.bits)

    @property
    def mask(self):
        """The element mask (True where a weight is stored)."""
        return expand(self.block_mask, self.shape, self.block)

    @property
    def count(self):
        return int(np.asarray(self.codes).size)


@dataclass
class Model:
    layers: list
    meta: dict = field(default_factory=dict)


# --- writing ---------------------------------------------------------------------

def _header_entry(layer):
    entry = {
        "name": layer.name, "kind": layer.kind, "shape": [int(x) for x in layer.shape],
        "block": [int(x) for x in layer.block], "bits": int(layer.bits), "slot": layer.slot,
        "region": None if layer.region is None else [int(x) for x in layer.region],
        "count": layer.count, "zero_code": bool(layer.zero_code),
        "f_in": int(layer.f_in), "f_w": int(layer.f_w), "f_out": int(layer.f_out),
        "activation": layer.activation,
    }
    if layer.kind == "conv":
        entry["stride"] = int(layer.stride)
        entry["padding"] = int(layer.padding)
    return entry


def _arrays(i, layer):
    codes = np.asarray(layer.codes, dtype=np.int64)
    arrays = {
        f"L{i}.block_mask": np.packbits(np.asarray(layer.block_mask, dtype=bool).reshape(-1)),
        f"L{i}.indices": words_to_bytes(pack(codes, layer.slot, 1, interleaved=False), 1),
        f"L{i}.bias": np.asarray(layer.bias, dtype=np.int32),
    }
    if layer.slot != 16:
        arrays[f"L{i}.codebooks"] = np.asarray(layer.codebooks, dtype=np.int16)
    return arrays


def save(model, path):
    """Validate ``model`` and write it to ``path`` atomically."""
    _validate_model(model)
    header = {"format": FORMAT, "version": VERSION,
              "layers": [_header_entry(layer) for layer in model.layers],
              "meta": model.meta}
    arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    for i, layer in enumerate(model.layers):
        arrays.update(_arrays(i, layer))
    _write(path, arrays)


_DIGEST_TAG = b"sparsegen-sha256:"


def _sealed(arrays):
    """The .npz bytes with a SHA-256 of themselves in the zip comment, so that any
    changed byte (timestamps and other metadata included) is detected."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    raw = buf.getvalue()
    digest = hashlib.sha256(raw).hexdigest().encode()
    buf = io.BytesIO(raw)
    with zipfile.ZipFile(buf, "a") as z:
        z.comment = _DIGEST_TAG + digest
    return buf.getvalue()


def _unsealed(data):
    """Check the digest; return the bytes, or raise ModelFormatError."""
    tail = _DIGEST_TAG + b"0" * 64
    if len(data) < 22 + len(tail) or data[-len(tail):-64] != _DIGEST_TAG:
        raise ModelFormatError("no sparsegen checksum at the end of the file "
                               "(truncated, or not written by golden.contract.model.save)")
    digest = data[-64:]
    body = bytearray(data[:-len(tail)])
    if int.from_bytes(body[-2:], "little") != len(tail):
        raise ModelFormatError("damaged zip end record (comment length)")
    body[-2:] = b"\0\0"  # the end-of-central-directory comment length, as hashed
    if hashlib.sha256(bytes(body)).hexdigest().encode() != digest:
        raise ModelFormatError("checksum mismatch: the file was changed or damaged")
    return data


def _write(path, arrays):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, _sealed(arrays))


# --- reading and checking ----------------------------------------------------------

def _fail(where, msg):
    raise ModelFormatError(f"{where}: {msg}")


def _int(where, name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _fail(where, f"field '{name}' must be an integer in {lo}..{hi}, not {value!r}")
    return value


def _array(where, files, key, dtype):
    if key not in files:
        _fail(where, f"array '{key}' is missing")
    arr = files[key]
    if arr.dtype != np.dtype(dtype):
        _fail(where, f"array '{key}' must be {np.dtype(dtype)}, not {arr.dtype}")
    return arr


def _validate_layer(where, layer, prev_out):
    """Semantic checks shared by save() and load()."""
    if layer.kind not in KINDS:
        _fail(where, f"field 'kind' must be one of {', '.join(KINDS)}, not {layer.kind!r}")
    want_dims = 2 if layer.kind == "fc" else 4
    if len(layer.shape) != want_dims or any(int(x) < 1 for x in layer.shape):
        _fail(where, f"field 'shape' must be {want_dims} positive extents for kind "
                     f"{layer.kind!r}, not {list(layer.shape)}")
    if len(layer.block) != want_dims or any(int(x) < 1 for x in layer.block):
        _fail(where, f"field 'block' must be {want_dims} positive extents, not {list(layer.block)}")
    _int(where, "bits", layer.bits, 1, 16)
    if 8 < layer.bits < 16:
        _fail(where, f"field 'bits' must be 1..8 (codebook indices) or 16 (raw int16 weights), "
                     f"not {layer.bits}")
    for name in ("f_in", "f_w", "f_out"):
        _int(where, name, getattr(layer, name), 0, 15)
    if layer.activation not in ACTIVATIONS:
        _fail(where, f"field 'activation' must be one of {', '.join(ACTIVATIONS)}, "
                     f"not {layer.activation!r}")
    if layer.activation in NONLINEAR and layer.f_out != ACT_FRAC:
        _fail(where, f"field 'f_out' must be {ACT_FRAC} with activation {layer.activation!r} "
                     f"(the PEFU's sigmoid/tanh tables work at {ACT_FRAC} fractional bits), "
                     f"not {layer.f_out}")
    if layer.f_out > layer.f_in + layer.f_w:
        _fail(where, f"field 'f_out' ({layer.f_out}) exceeds f_in + f_w ({layer.f_in + layer.f_w})")
    if layer.region is not None:
        r = layer.region
        if not isinstance(r, (tuple, list)) or len(r) != 2 or any(
                isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1 for x in r):
            _fail(where, f"field 'region' must be null or two positive integers, not {r!r}")
        if layer.slot == 16:
            _fail(where, f"field 'region' must be null for raw {layer.bits}-bit weights (no "
                         f"codebook), not {list(r)}")
    if layer.kind == "conv":
        _int(where, "stride", layer.stride, 1, 16)
        k = min(int(x) for x in layer.shape[2:])
        _int(where, "padding", layer.padding, 0, k - 1)
    grid = block_grid(layer.shape, layer.block)
    bm = np.asarray(layer.block_mask)
    if bm.shape != grid:
        _fail(where, f"block mask has shape {bm.shape}, the block grid is {grid}")
    count = kept_weights(bm, layer.shape, layer.block)
    if count == 0:
        _fail(where, "field 'block_mask' keeps no weight (every block pruned)")
    codes = np.asarray(layer.codes)
    if codes.ndim != 1 or codes.size != count:
        _fail(where, f"field 'count' ({codes.size}) differs from the popcount of the "
                     f"bitmap ({count})")
    if layer.slot == 16:
        if codes.size and (codes.min() < -32768 or codes.max() > 32767):
            _fail(where, "raw weights outside int16")
    else:
        if codes.size and (codes.min() < 0 or codes.max() >= 1 << layer.bits):
            _fail(where, f"indices outside 0..{(1 << layer.bits) - 1}")
        books = layer.codebooks
        (g_out, g_in), _ = region_grid(layer.shape, layer.region)
        want = (g_out * g_in, 1 << layer.bits)
        if books is None or np.asarray(books).shape != want:
            _fail(where, f"codebooks must have shape {want} (regions, 2**bits), not "
                         f"{None if books is None else np.asarray(books).shape}")
        if layer.zero_code and np.asarray(books)[:, 0].any():
            _fail(where, "zero_code is set but code 0 of a codebook is not 0")
    bias = np.asarray(layer.bias)
    if bias.shape != (int(layer.shape[0]),):
        _fail(where, f"bias has shape {bias.shape}, expected ({layer.shape[0]},)")
    if prev_out is not None:
        p_kind, p_out, p_f_out = prev_out
        if layer.kind == "conv" and p_kind == "fc":
            _fail(where, "field 'kind': a conv layer after an FC layer (conv layers come first)")
        if layer.kind == p_kind and int(layer.shape[1]) != p_out:
            _fail(where, f"field 'shape': takes {layer.shape[1]} "
                         f"{'inputs' if layer.kind == 'fc' else 'input channels'} but the "
                         f"previous layer has {p_out} outputs")
        if layer.f_in != p_f_out:
            _fail(where, f"field 'f_in' ({layer.f_in}) differs from the previous layer's "
                         f"f_out ({p_f_out})")


def kept_weights(block_mask, shape, block):
    """The weights a block mask keeps, from the block sizes: no element mask is
    built, so a file's declared shape never decides an allocation (the block grid
    is bounded by the file's own block-mask bytes)."""
    return int(block_sizes(shape, block)[np.asarray(block_mask, dtype=bool)].sum())


def _validate_model(model):
    if not model.layers:
        raise ModelFormatError("model: no layers")
    if not isinstance(model.meta, dict):
        raise ModelFormatError(f"model: field 'meta' must be a dict, not {model.meta!r}")
    names = set()
    prev = None
    for i, layer in enumerate(model.layers):
        where = f"layer {i} ({layer.name!r})"
        if not isinstance(layer.name, str) or not layer.name:
            _fail(f"layer {i}", "field 'name' must be a non-empty string")
        if layer.name in names:
            _fail(where, "field 'name' repeats an earlier layer's")
        names.add(layer.name)
        _validate_layer(where, layer, prev)
        prev = (layer.kind, int(layer.shape[0]), layer.f_out)


_HEADER_FIELDS = {"name": str, "kind": str, "shape": list, "block": list, "bits": int,
                  "slot": int, "count": int, "zero_code": bool, "f_in": int, "f_w": int,
                  "f_out": int, "activation": str}


def _read(path):
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read the file ({e.strerror})") from None
    try:
        _unsealed(data)
    except ModelFormatError as e:
        raise ModelFormatError(f"{path}: {e}") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise ModelFormatError(f"{path}: not a readable .npz archive ({e})") from None


def load(path):
    """Read and check a model file; return a :class:`Model` or raise ModelFormatError."""
    where = {"at": f"{path}"}       # what is being read, for the catch-all below
    try:
        return _load(path, where)
    except ModelFormatError:
        raise
    except Exception as e:  # any other failure on a bad file is still a format error
        raise ModelFormatError(f"{where['at']}: malformed ({type(e).__name__}: {e})") from None


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise ModelFormatError(f"header: key {k!r} appears {keys.count(k)} times in one object")
    return dict(pairs)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _load(path, ctx):
    files = _read(path)
    if "header" not in files:
        raise ModelFormatError(f"{path}: no 'header' entry: not a sparsegen model")
    raw = files["header"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFormatError(f"{path}: 'header' must be a 1-D uint8 array")
    try:
        header = json.loads(raw.tobytes().decode(), object_pairs_hook=_no_duplicates)
    except ModelFormatError as e:
        raise ModelFormatError(f"{path}: {e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelFormatError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFormatError(f"{path}: header field 'format' must be {FORMAT!r}")
    version = header.get("version")
    if not _is_int(version) or version != VERSION:
        raise ModelFormatError(f"{path}: header field 'version' is {version!r}; "
                               f"this sparsegen reads version {VERSION} (an integer)")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelFormatError(f"{path}: header field 'meta' must be an object, not {meta!r}")
    unknown = sorted(set(header) - {"format", "version", "layers", "meta"})
    if unknown:
        raise ModelFormatError(f"{path}: header has unknown fields {unknown}")
    entries = header.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ModelFormatError(f"{path}: header field 'layers' must be a non-empty list")
    layers = []
    for i, e in enumerate(entries):
        where = f"{path}: layer {i}" + (f" ({e.get('name')!r})" if isinstance(e, dict) else "")
        ctx["at"] = where
        if not isinstance(e, dict):
            _fail(where, "header entry is not an object")
        for name, typ in _HEADER_FIELDS.items():
            if name not in e:
                _fail(where, f"field '{name}' is missing")
            if not isinstance(e[name], typ) or (typ is int and isinstance(e[name], bool)):
                _fail(where, f"field '{name}' must be {typ.__name__}, not {e[name]!r}")
        allowed = set(_HEADER_FIELDS) | {"region"} | (
            {"stride", "padding"} if e["kind"] == "conv" else set())
        unknown = sorted(set(e) - allowed)
        if unknown:
            _fail(where, f"field {unknown[0]!r} is not a field of a {e['kind']!r} layer")
        if e["kind"] == "conv":
            for name in ("stride", "padding"):
                if name not in e:
                    _fail(where, f"field '{name}' is missing (a conv layer has one)")
                if not _is_int(e[name]):
                    _fail(where, f"field '{name}' must be int, not {e[name]!r}")
        bits = _int(where, "bits", e["bits"], 1, 16)
        if 8 < bits < 16:
            _fail(where, f"field 'bits' must be 1..8 (codebook indices) or 16 (raw int16 "
                         f"weights), not {bits}")
        if e["slot"] != slot_bits(bits):
            _fail(where, f"field 'slot' is {e['slot']} but {bits}-bit weights use "
                         f"{slot_bits(bits)}-bit slots")
        region = e.get("region")
        if region is not None and not (isinstance(region, list) and len(region) == 2
                                       and all(_is_int(x) and x >= 1 for x in region)):
            _fail(where, f"field 'region' must be null or two positive integers, not {region!r}")
        for name in ("shape", "block"):
            if not all(_is_int(x) for x in e[name]):
                _fail(where, f"field '{name}' must hold integers, not {e[name]!r}")
        shape, block = tuple(e["shape"]), tuple(e["block"])
        if e["kind"] in KINDS and (len(shape) != (2 if e["kind"] == "fc" else 4)
                                   or min(shape) < 1):
            _fail(where, f"field 'shape' must be {2 if e['kind'] == 'fc' else 4} positive "
                         f"extents for kind {e['kind']!r}, not {list(shape)}")
        if len(block) != len(shape) or min(block) < 1:
            _fail(where, f"field 'block' must be {len(shape)} positive extents, not {list(block)}")
        # Sizes are checked against the file's arrays before anything is allocated
        # from the declared shape: the block mask's bytes bound the block grid, the
        # indices' bytes the kept weights, the bias' length the outputs.
        grid = block_grid(shape, block)
        n_blocks = int(np.prod(grid, dtype=object))
        ctx["at"] = f"{where}, array 'L{i}.block_mask'"
        packed = _array(where, files, f"L{i}.block_mask", np.uint8)
        if packed.shape != (-(-n_blocks // 8),):
            _fail(where, f"array 'L{i}.block_mask' has {packed.size} bytes, "
                         f"expected {-(-n_blocks // 8)} for {n_blocks} blocks of field 'shape' "
                         f"{list(shape)}, field 'block' {list(block)}")
        bits_flat = np.unpackbits(packed)
        if bits_flat[n_blocks:].any():
            _fail(where, f"array 'L{i}.block_mask' has bits set past the {n_blocks} blocks")
        block_mask = bits_flat[:n_blocks].astype(bool).reshape(grid)
        count = kept_weights(block_mask, shape, block)
        if e["count"] != count:
            _fail(where, f"field 'count' ({e['count']}) differs from the popcount of the "
                         f"bitmap ({count})")
        slot = slot_bits(bits)
        ctx["at"] = f"{where}, array 'L{i}.indices'"
        idx = _array(where, files, f"L{i}.indices", np.uint8)
        n_words = -(-count // slots_per_word(slot, 1))
        if idx.shape != (8 * n_words,):
            _fail(where, f"array 'L{i}.indices' has {idx.size} bytes, expected {8 * n_words} "
                         f"for {count} {slot}-bit slots")
        words = bytes_to_words(idx, 1)
        all_slots = unpack(words, slot, 1, interleaved=False)
        if slot != 16 and all_slots[count:].any():
            _fail(where, f"array 'L{i}.indices' has nonzero padding past {count} slots")
        codes = all_slots[:count]
        codebooks = None
        ctx["at"] = f"{where}, array 'L{i}.codebooks'"
        if slot != 16:
            codebooks = _array(where, files, f"L{i}.codebooks", np.int16)
        elif f"L{i}.codebooks" in files:
            _fail(where, f"array 'L{i}.codebooks' is present but {bits}-bit weights are raw")
        ctx["at"] = f"{where}, array 'L{i}.bias'"
        bias = _array(where, files, f"L{i}.bias", np.int32)
        if bias.shape != (shape[0],):
            _fail(where, f"array 'L{i}.bias' has shape {bias.shape}, expected ({shape[0]},) "
                         f"for field 'shape' {list(shape)}")
        ctx["at"] = where
        layer = Layer(
            name=e["name"], kind=e["kind"], shape=shape, block=block, bits=bits,
            block_mask=block_mask, codes=codes, codebooks=codebooks, bias=bias,
            f_in=e["f_in"], f_w=e["f_w"], f_out=e["f_out"], activation=e["activation"],
            region=None if region is None else tuple(region),
            zero_code=e["zero_code"], stride=e.get("stride", 1), padding=e.get("padding", 0))
        layers.append(layer)
    ctx["at"] = f"{path}"
    model = Model(layers, meta)
    try:
        _validate_model(model)
    except ModelFormatError as err:
        raise ModelFormatError(f"{path}: {err}") from None
    known = {"header"} | {f"L{i}.{k}" for i in range(len(layers))
                          for k in ("block_mask", "indices", "codebooks", "bias")}
    extra = sorted(set(files) - known)
    if extra:
        raise ModelFormatError(f"{path}: unexpected arrays {extra}")
    return model


# --- decompression ---------------------------------------------------------------

def decompress(model):
    """Per layer, in order, a dict with ``name``, ``kind``, ``weight`` (dense int16 of the
    layer's shape, zeros where pruned), ``bias`` (int32), ``f_in``, ``f_w``, ``f_out``,
    ``activation``, ``shape``, ``block`` and, for conv, ``stride`` and ``padding``."""
    out = []
    for layer in model.layers:
        mask = layer.mask
        rows = layer.shape[0]
        flat_mask = mask.reshape(rows, -1)
        codes = np.asarray(layer.codes, dtype=np.int64)
        dense = np.zeros(flat_mask.shape, dtype=np.int64)
        rr, cc = np.nonzero(flat_mask)  # row-major order, as the codes are stored
        if layer.slot == 16:
            dense[rr, cc] = codes
        else:
            rid = region_index(layer.shape, layer.region)
            dense[rr, cc] = np.asarray(layer.codebooks, dtype=np.int64)[rid[rr, cc], codes]
        entry = {"name": layer.name, "kind": layer.kind,
                 "weight": dense.astype(np.int16).reshape(layer.shape),
                 "bias": np.asarray(layer.bias, dtype=np.int32),
                 "f_in": layer.f_in, "f_w": layer.f_w, "f_out": layer.f_out,
                 "activation": layer.activation, "shape": tuple(layer.shape),
                 "block": tuple(layer.block)}
        if layer.kind == "conv":
            entry["stride"], entry["padding"] = layer.stride, layer.padding
        out.append(entry)
    return out
