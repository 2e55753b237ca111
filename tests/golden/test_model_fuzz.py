"""A seeded fuzz of the model loader: 1500 mutated files, and every outcome is a
``ModelFormatError`` or a sound model — never another exception.

Three kinds of mutation, each on an MLP and on a CNN model file:

* byte flips with the checksum left stale: the checksum catches every one;
* byte flips resealed with a valid checksum: the zip layer or the checks catch
  them, or the file still says the same thing (a flip in a timestamp) and loads
  into the identical model;
* semantic edits resealed: header fields set to values of every type, dropped,
  added, duplicated; arrays retyped, cut, grown, refilled.  A file that still
  loads must hold a model that ``save`` accepts, that round-trips unchanged and
  that decompresses and runs.

A failure prints the seed and the mutation to replay it.
"""

import hashlib
import json
import random

import numpy as np
import pytest

from golden.contract.model import (
    ModelFormatError,
    _arrays,
    _header_entry,
    _sealed,
    decompress,
    load,
    save,
)
from golden.twins.infer import infer
from tests.golden.test_compression import small_cnn, small_model

TAG = b"sparsegen-sha256:"


def _seal(raw):
    """Recompute the file's SHA-256 after an edit (as golden.contract.model writes it)."""
    n = len(TAG) + 64
    body = bytearray(raw[:-n])
    body[-2:] = b"\0\0"
    digest = hashlib.sha256(bytes(body)).hexdigest().encode()
    return raw[:-n] + TAG + digest


def _file(arrays, header):
    arrays = dict(arrays)
    arrays["header"] = np.frombuffer(header.encode(), dtype=np.uint8)
    return _sealed(arrays)


def _parts(model):
    header = {"format": "sparsegen-model", "version": 1,
              "layers": [_header_entry(layer) for layer in model.layers], "meta": {}}
    arrays = {}
    for i, layer in enumerate(model.layers):
        arrays.update(_arrays(i, layer))
    return header, arrays


def _same(a, b):
    da, db = decompress(a), decompress(b)
    return len(da) == len(db) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) if isinstance(x[k], np.ndarray)
                                     else x[k] == y[k] for k in x) for x, y in zip(da, db))


VALUES = [0, 1, -1, 2, 3, 7, 16, 17, 255, 1 << 20, -(1 << 40), 1.0, 1.5, float("nan"), True,
          False, None, "", "fc", "conv", "relu", "sigmoid", [], [1], [2, 2], [1, 1, 1, 1],
          [0, 4], ["a", 1], {}, {"x": 1}]


def _semantic(rng, header, arrays):
    """One random edit; returns (header text, arrays, description)."""
    h = json.loads(json.dumps(header))
    a = dict(arrays)
    kind = rng.randrange(6)
    if kind <= 1:                               # set a layer field to any value
        i = rng.randrange(len(h["layers"]))
        key = rng.choice(sorted(h["layers"][i]) + ["stride", "padding", "region", "new"])
        h["layers"][i][key] = rng.choice(VALUES)
        what = f"layer {i} {key}={h['layers'][i][key]!r}"
    elif kind == 2:                             # drop a layer field, or a top-level one
        i = rng.randrange(len(h["layers"]))
        key = rng.choice(sorted(h["layers"][i]))
        del h["layers"][i][key]
        what = f"layer {i} without {key}"
    elif kind == 3:                             # a top-level field
        key = rng.choice(["format", "version", "layers", "meta", "extra"])
        h[key] = rng.choice(VALUES)
        what = f"{key}={h[key]!r}"
    elif kind == 4:                             # an array retyped, cut, grown or refilled
        key = rng.choice(sorted(a))
        arr = a[key]
        op = rng.randrange(4)
        if op == 0:
            a[key] = arr.astype(rng.choice([np.int64, np.uint8, np.float32, np.int16]))
        elif op == 1:
            a[key] = arr[:rng.randrange(arr.size + 1)]
        elif op == 2:
            a[key] = np.concatenate([arr, arr[:rng.randrange(1, 9)]])
        else:
            nrng = np.random.default_rng(rng.randrange(1 << 30))
            a[key] = nrng.integers(np.iinfo(arr.dtype).min, np.iinfo(arr.dtype).max,
                                   size=arr.shape, endpoint=True).astype(arr.dtype) \
                if arr.dtype.kind in "iu" else arr
        what = f"array {key} op {op}"
    else:                                       # a layer swapped, dropped or duplicated
        i = rng.randrange(len(h["layers"]))
        op = rng.randrange(3)
        if op == 0 and len(h["layers"]) > 1:
            j = rng.randrange(len(h["layers"]))
            h["layers"][i], h["layers"][j] = h["layers"][j], h["layers"][i]
        elif op == 1:
            del h["layers"][i]
        else:
            h["layers"].insert(i, h["layers"][i])
        what = f"layers op {op} at {i}"
    text = json.dumps(h)
    if rng.random() < 0.1:                      # a duplicated key in the text
        text = text.replace('"f_in": ', '"f_in": 0, "f_in": ', 1)
        what += " + duplicate f_in"
    return text, a, what


def _check_outcome(path, original, seed, what):
    try:
        model = load(path)
    except ModelFormatError:
        return "error"
    except Exception as e:                      # anything else is a bug in the loader
        raise AssertionError(f"seed {seed}, {what}: {type(e).__name__}: {e}") from e
    # It loaded: it must be a sound model (saved again, identical, decompresses, runs).
    again = path.with_name("again.npz")
    save(model, again)
    assert _same(model, load(again)), f"seed {seed}, {what}: no round trip"
    first = decompress(model)[0]
    if all(layer.kind == "fc" for layer in model.layers):
        infer(model, np.zeros((1, first["weight"].shape[1]), dtype=np.int16))
    return "same" if _same(model, original) else "other"


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_loader_fuzz(tmp_path, which, seed=20261129):
    model = small_model()[0] if which == "mlp" else small_cnn()
    path = tmp_path / "m.npz"
    save(model, path)
    clean = path.read_bytes()
    header, arrays = _parts(model)
    rng = random.Random(f"{seed}-{which}")
    counts = {"stale": 0, "resealed": {"error": 0, "same": 0, "other": 0},
              "semantic": {"error": 0, "same": 0, "other": 0}}
    bad = tmp_path / "bad.npz"
    n = 250
    for _ in range(n):                          # byte flips, checksum stale
        raw = bytearray(clean)
        i = rng.randrange(len(raw))
        raw[i] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(raw))
        with pytest.raises(ModelFormatError):
            load(bad)
        counts["stale"] += 1
    body = len(clean) - len(TAG) - 64 - 2
    for _ in range(n):                          # byte flips, resealed
        raw = bytearray(clean)
        i = rng.randrange(body)
        raw[i] ^= 1 << rng.randrange(8)
        bad.write_bytes(_seal(bytes(raw)))
        outcome = _check_outcome(bad, model, seed, f"{which} flip at byte {i}")
        assert outcome != "other", f"seed {seed}: a flip at byte {i} changed the model silently"
        counts["resealed"][outcome] += 1
    for k in range(n):                          # semantic edits, resealed
        text, a, what = _semantic(rng, header, arrays)
        bad.write_bytes(_file(a, text))
        counts["semantic"][_check_outcome(bad, model, seed, f"{which} edit {k}: {what}")] += 1
    # The mutations reached the checks: most are refused, and the edits that keep a
    # valid file exist too (e.g. another activation), so neither side is vacuous.
    assert counts["stale"] == n
    assert counts["resealed"]["error"] > n // 2
    assert counts["semantic"]["error"] > n // 2 and sum(counts["semantic"].values()) == n
    print(which, counts)


def test_mutated_bytes_never_crash_the_npz_layer(tmp_path):
    """Resealed random garbage after the zip directory: still only ModelFormatError."""
    rng = random.Random(7)
    model = small_model()[0]
    path = tmp_path / "m.npz"
    save(model, path)
    clean = path.read_bytes()
    for _ in range(20):
        cut = rng.randrange(1, len(clean) - 100)
        raw = clean[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 50))) \
            + clean[cut:]
        (tmp_path / "g.npz").write_bytes(_seal(raw))
        with pytest.raises(ModelFormatError):
            load(tmp_path / "g.npz")
