"""The golden compression pipeline: pruning, quantization, Huffman, the baseline,
the model file and its failure modes, the CLI, and the digits networks."""

import json
import random
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.compression import huffman
from golden.compression.irregularity import compressed_size, r_irr
from golden.compression.pipeline import (
    CompressConfig,
    baseline_figures,
    compress_network,
    relative_index,
)
from golden.compression.prune import (
    align_block,
    block_scores,
    expand,
    group_union,
    iterative_prune,
    prune,
    sparsity,
)
from golden.compression.quantize import quantize, region_index
from golden.contract.model import Layer, Model, ModelFormatError, decompress, load, save

# --- pruning ----------------------------------------------------------------------

@pytest.mark.parametrize("shape, block", [((64, 48), (8, 8)), ((30, 50), (8, 16)),
                                          ((16, 8, 3, 3), (4, 1, 1, 1)),
                                          ((10, 7, 5, 5), (4, 2, 2, 2))])
@pytest.mark.parametrize("target", [0.3, 0.75, 0.9])
def test_whole_blocks_removed_and_sparsity_within_a_block(shape, block, target):
    w = np.random.default_rng(0).normal(size=shape)
    mask, block_mask = prune(w, block, target)
    # Every block is all kept or all removed (partial edge blocks included).
    assert (expand(block_mask, shape, block) == mask).all()
    assert abs(sparsity(mask) * w.size - target * w.size) <= np.prod(block) / 2 + 1e-9


def test_partial_edge_blocks_scored_over_what_they_hold():
    # 5 columns, blocks of 4: the edge block holds one column.  avg divides by 4
    # weights for it, not by 8.
    w = np.zeros((2, 5))
    w[:, 4] = 1.0
    w[:, :4] = 0.4
    scores = block_scores(w, (2, 4), "avg")
    assert scores.tolist() == [[0.4, 1.0]]
    mask, bm = prune(w, (2, 4), 0.2)  # removing 2 of 10 weights: the 2-weight edge block? no:
    # the lowest score is the 8-weight block (0.4); 8 removed is farther from 2 than 0.
    assert bm.tolist() == [[True, True]]
    mask, bm = prune(w, (2, 4), 0.7)
    assert bm.tolist() == [[False, True]]


def test_max_keeps_outlier_blocks_avg_keeps_uniform_blocks():
    # Block A: one large weight among zeros; block B: moderate weights throughout.
    # max scores A higher and keeps it; avg scores B higher and keeps it.
    w = np.zeros((4, 8))
    w[0, 0] = 5.0
    w[:, 4:] = 1.0
    _, bm_max = prune(w, (4, 4), 0.5, "max")
    _, bm_avg = prune(w, (4, 4), 0.5, "avg")
    assert bm_max.tolist() == [[True, False]]
    assert bm_avg.tolist() == [[False, True]]


def test_block_size_one_is_magnitude_pruning():
    w = np.random.default_rng(1).normal(size=(20, 30))
    mask, _ = prune(w, (1, 1), 0.8, "max")
    kept = np.abs(w[mask])
    assert kept.min() >= np.abs(w[~mask]).max()
    assert mask.sum() == 120


def test_iterative_schedule_calls_retrain_and_never_revives():
    w = np.random.default_rng(2).normal(size=(32, 32))
    calls, masks = [], []

    def retrain(weights, mask):
        calls.append(sparsity(mask))
        masks.append(mask.copy())
        assert (weights[~mask] == 0).all()
        return weights + 0.01 * mask  # a "training" step that keeps the mask
    w2, mask, bm = iterative_prune(w, (4, 4), 0.75, steps=3, retrain=retrain)
    assert len(calls) == 3 and calls == sorted(calls)
    assert abs(calls[-1] - 0.75) < 1e-9
    for a, b in zip(masks, masks[1:]):
        assert not (b & ~a).any()  # a removed block stays removed
    assert (w2[~mask] == 0).all()


def test_tn_alignment_makes_the_union_exact():
    w = np.random.default_rng(3).normal(size=(32, 64))
    block = align_block((2, 8), tn=4)
    assert block == (4, 8)
    mask, _ = prune(w, block, 0.7)
    union = group_union(mask, 4)
    for g in range(8):
        rows = mask[4 * g:4 * g + 4]
        assert (rows == union[g]).all()  # every row of the group has the union itself
    # Unaligned blocks (2 rows) leave rows of a group that differ from the union.
    mask2, _ = prune(w, (2, 8), 0.7)
    assert any((mask2[4 * g:4 * g + 4] != group_union(mask2, 4)[g]).any() for g in range(8))


def test_prune_errors():
    w = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"^block must have 2 dimensions"):
        prune(w, (2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"^sparsity must be in \[0, 1\], not 1\.5$"):
        prune(w, (2, 2), 1.5)
    with pytest.raises(ValueError, match="^score must be one of 'max', 'avg', not 'min'$"):
        prune(w, (2, 2), 0.5, "min")


# --- quantization ------------------------------------------------------------------

@pytest.mark.parametrize("bits, region", [(4, None), (4, (8, 32)), (3, (16, 16)), (8, None)])
def test_quantization_error_bounded_by_codebook_spacing(bits, region):
    w = np.random.default_rng(4).normal(size=(32, 64))
    mask, _ = prune(w, (4, 4), 0.5)
    q = quantize(w, mask, bits, region=region)
    deq = q["weight"].astype(np.float64) / (1 << q["f_w"])
    rid = region_index(w.shape, region)
    for r in np.unique(rid):
        sel = (rid == r) & mask
        if not sel.any():
            continue
        book = np.unique(q["codebooks"][r][: 1 << bits].astype(np.float64)) / (1 << q["f_w"])
        used = np.unique(q["weight"][sel]).astype(np.float64) / (1 << q["f_w"])
        gaps = np.diff(np.sort(used)) if used.size > 1 else np.array([0.0])
        lo, hi = w[sel].min(), w[sel].max()
        bound = max(gaps.max() / 2, used.min() - lo, hi - used.max()) + 2.0 ** -q["f_w"]
        assert np.abs(w[sel] - deq[sel]).max() <= bound + 1e-12
        assert used.size <= min(1 << bits, 255)
        assert set(used) <= set(book) | {0.0}
    assert (q["weight"][~mask] == 0).all()


def test_quantization_deterministic_global_is_one_region_and_zero_code():
    w = np.random.default_rng(5).normal(size=(16, 16))
    mask = np.ones_like(w, dtype=bool)
    a = quantize(w, mask, 4)
    b = quantize(w, mask, 4, region=(16, 16))
    assert (a["weight"] == b["weight"]).all() and a["codebooks"].shape == (1, 16)
    assert (quantize(w, mask, 4)["weight"] == a["weight"]).all()
    z = quantize(w, mask, 4, zero_code=True)
    assert z["codebooks"][0, 0] == 0 and (z["codes"] >= 0).all()
    raw = quantize(w, mask, 12)
    assert raw["codebooks"] is None
    assert np.abs(raw["weight"] / 2 ** raw["f_w"] - w).max() <= 2.0 ** -(raw["f_w"] + 1)


# --- Huffman --------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 255), max_size=300))
def test_huffman_round_trip(symbols):
    bits, code = huffman.encode(symbols, 8)
    assert huffman.decode(bits, code).tolist() == symbols
    assert huffman.coded_bits(symbols, 8) == len(bits) + code.table_bits


@settings(max_examples=80, deadline=None)
@given(st.lists(st.booleans(), max_size=300))
def test_huffman_bitmap_round_trip(bitmap):
    bits, code, n = huffman.encode_bitmap(bitmap)
    assert huffman.decode_bitmap(bits, code, n).tolist() == bitmap


def test_huffman_is_optimal_on_a_skewed_source():
    # 1000 symbols, 90 % zeros: Huffman needs about 1 bit each, far below 8.
    syms = [0] * 900 + list(range(1, 101))
    assert huffman.coded_bits(syms, 8) < 1000 + 100 * 9 + 8 * 110


# --- baseline and R(Irr) ----------------------------------------------------------

def test_relative_index_hand_worked():
    # Nonzeros at 0, 3, 20, 39 of 40: gaps 0, 2, then 16 > 15 needs a filler
    # (15, then 0), then 18 needs a filler (15, then 2).
    mask = np.zeros((1, 40), dtype=bool)
    mask[0, [0, 3, 20, 39]] = True
    gaps, filler = relative_index(mask)
    assert gaps.tolist() == [0, 2, 15, 0, 15, 2]
    assert filler.tolist() == [False, False, True, False, True, False]
    # Decoding the index restores the positions (a filler consumes gap + 1 places).
    pos, positions = -1, []
    for g, f in zip(gaps, filler):
        pos += g + 1
        if not f:
            positions.append(pos)
    assert positions == [0, 3, 20, 39]


def test_baseline_sizes_hand_worked():
    w = np.zeros((1, 40))
    w[0, [0, 3, 20, 39]] = [1.0, -2.0, 3.0, -4.0]
    fig, mask = baseline_figures(w, 0.9, 4)
    assert mask.sum() == 4 and fig["entries"] == 6 and fig["fillers"] == 2
    assert fig["W_p"] == 6 * 4          # 32-bit weights, fillers included
    assert fig["I_p"] == 3              # 6 entries x 4 bits
    assert fig["W_q"] == 3 + 2 * 16     # 6 x 4 bits, a 16-entry int16 codebook
    assert fig["r_p"] == 160 / (24 + 3)


def test_r_irr_coarse_is_more_regular():
    w = np.random.default_rng(6).normal(size=(128, 128))
    fine, _ = prune(w, (1, 1), 0.9)
    coarse, _ = prune(w, (16, 16), 0.9)
    ratio, f, c, name = r_irr(fine, coarse)
    assert ratio > 5 and f > c
    assert name.startswith(("JBIG", "LZMA"))
    assert compressed_size(coarse, "lzma")[0] < compressed_size(fine, "lzma")[0]


# --- the model file ------------------------------------------------------------------

def small_model(seed=0, bits=4):
    rng = np.random.default_rng(seed)
    layers = [("fc1", rng.normal(size=(24, 40)) * 0.3, rng.normal(size=24) * 0.1, {}),
              ("fc2", rng.normal(size=(10, 24)) * 0.3, None, {})]
    cfg = CompressConfig(block_fc=(4, 4), sparsity_fc=0.6, bits_fc=bits, region_fc=(8, 40))
    return compress_network(layers, cfg)


def test_save_load_round_trip(tmp_path):
    model, _ = small_model()
    save(model, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    for a, b in zip(decompress(model), decompress(loaded)):
        assert a.keys() == b.keys()
        np.testing.assert_array_equal(a["weight"], b["weight"])
        np.testing.assert_array_equal(a["bias"], b["bias"])
        assert a["weight"].dtype == np.int16 and a["bias"].dtype == np.int32
        for k in ("name", "kind", "f_in", "f_w", "f_out", "activation"):
            assert a[k] == b[k]
    assert [x["activation"] for x in decompress(loaded)] == ["relu", "identity"]
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


@pytest.mark.parametrize("bits", [2, 8, 16])
def test_round_trip_every_slot_width(tmp_path, bits):
    model, _ = small_model(1, bits)
    save(model, tmp_path / "m.npz")
    for a, b in zip(decompress(model), decompress(load(tmp_path / "m.npz"))):
        np.testing.assert_array_equal(a["weight"], b["weight"])


def test_random_byte_flips_and_truncation_raise_model_format_error(tmp_path):
    model, _ = small_model()
    save(model, tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    rng = random.Random(0)
    bad = tmp_path / "bad.npz"
    for _ in range(150):
        d = bytearray(data)
        i = rng.randrange(len(d))
        d[i] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(d))
        with pytest.raises(ModelFormatError):
            load(bad)
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError):
            load(bad)
    with pytest.raises(ModelFormatError, match="cannot read the file"):
        load(tmp_path / "missing.npz")


def _rewrite(tmp_path, model, edit_header=None, edit_arrays=None, edit_text=None):
    """Write a model with a tampered header/arrays (or header text) but a valid checksum."""
    from golden.contract.model import _arrays, _header_entry, _write
    header = {"format": "sparsegen-model", "version": 1,
              "layers": [_header_entry(layer) for layer in model.layers], "meta": {}}
    arrays = {}
    for i, layer in enumerate(model.layers):
        arrays.update(_arrays(i, layer))
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    text = json.dumps(header)
    if edit_text:
        text = edit_text(text)
    arrays["header"] = np.frombuffer(text.encode(), dtype=np.uint8)
    path = tmp_path / "t.npz"
    _write(path, arrays)
    return path


@pytest.mark.parametrize("edit_header, edit_arrays, message", [
    (lambda h: h.update(version=2), None, r"header field 'version' is 2"),
    (lambda h: h.update(format="other"), None, r"header field 'format'"),
    (lambda h: h["layers"][0].update(count=h["layers"][0]["count"] + 1), None,
     r"layer 0 \('fc1'\): field 'count' \(\d+\) differs from the popcount"),
    (lambda h: h["layers"][1].update(kind="lstm"), None, r"layer 1 \('fc2'\): .*kind"),
    (lambda h: h["layers"][0].update(bits=5), None, r"layer 0 \('fc1'\): field 'slot' is 4"),
    (lambda h: h["layers"][0].update(f_out=40), None, r"layer 0 \('fc1'\): field 'f_out'"),
    (lambda h: h["layers"][0].pop("activation"), None,
     r"layer 0 \('fc1'\): field 'activation' is missing"),
    (None, lambda a: a.update({"L1.bias": a["L1.bias"][:3]}),
     r"layer 1 \('fc2'\): array 'L1.bias' has shape \(3,\), expected \(10,\)"),
    (None, lambda a: a.update({"L0.bias": a["L0.bias"].astype(np.int64)}),
     r"layer 0 \('fc1'\): array 'L0.bias' must be int32"),
    (None, lambda a: a.pop("L0.codebooks"), r"layer 0 \('fc1'\): array 'L0.codebooks' is missing"),
    (None, lambda a: a.update({"L0.indices": a["L0.indices"][:-8]}),
     r"layer 0 \('fc1'\): array 'L0.indices' has \d+ bytes"),
    (None, lambda a: a.update({"extra": np.zeros(3)}), r"unexpected arrays \['extra'\]"),
])
def test_inconsistent_files_name_layer_and_field(tmp_path, edit_header, edit_arrays, message):
    model, _ = small_model()
    path = _rewrite(tmp_path, model, edit_header, edit_arrays)
    with pytest.raises(ModelFormatError, match=message):
        load(path)


def _set(layer, **fields):
    return lambda h: h["layers"][layer].update(fields)


@pytest.mark.parametrize("edit_header, edit_text, message", [
    # Checksum-valid files whose content is not: each names the layer and field.
    (None, lambda t: t.replace('"version": 1', '"version": 1, "version": 1'),
     r"header: key 'version' appears 2 times"),
    (None, lambda t: t.replace('"bits": 4', '"bits": 4, "bits": 8', 1),
     r"header: key 'bits' appears 2 times"),
    (lambda h: h.update(version=True), None, r"header field 'version' is True"),
    (lambda h: h.update(version=1.0), None, r"header field 'version' is 1.0"),
    (lambda h: h.update(meta=[1, 2]), None, r"header field 'meta' must be an object"),
    (lambda h: h.update(extra=1), None, r"header has unknown fields \['extra'\]"),
    (_set(0, bits=12, slot=16), None, r"layer 0 \('fc1'\): field 'bits' must be 1..8 "
                                      r"\(codebook indices\) or 16"),
    (_set(1, f_in=7), None, r"layer 1 \('fc2'\): field 'f_in' \(7\) differs from the "
                            r"previous layer's f_out \(8\)"),
    (_set(0, region=[8, True]), None, r"layer 0 \('fc1'\): field 'region' must be null or two "
                                      r"positive integers"),
    (_set(0, region=[8.0, 40]), None, r"layer 0 \('fc1'\): field 'region'"),
    (_set(0, region=[8]), None, r"layer 0 \('fc1'\): field 'region'"),
    (_set(1, stride=2), None, r"layer 1 \('fc2'\): field 'stride' is not a field of a 'fc'"),
])
def test_checksum_valid_but_wrong_files_name_layer_and_field(tmp_path, edit_header, edit_text,
                                                             message):
    model, _ = small_model()
    path = _rewrite(tmp_path, model, edit_header, edit_text=edit_text)
    with pytest.raises(ModelFormatError, match=message):
        load(path)


def test_region_on_a_raw_layer_is_refused(tmp_path):
    model, _ = small_model(bits=16)
    path = _rewrite(tmp_path, model, _set(0, region=[8, 40]))
    with pytest.raises(ModelFormatError, match=r"layer 0 \('fc1'\): field 'region' must be null "
                                               r"for raw 16-bit weights"):
        load(path)


def small_cnn(seed=0):
    rng = np.random.default_rng(seed)
    layers = [("conv1", rng.normal(size=(8, 1, 3, 3)), None, {"stride": 1, "padding": 1}),
              ("conv2", rng.normal(size=(8, 8, 3, 3)), None, {"stride": 2, "padding": 1}),
              ("fc", rng.normal(size=(10, 32)), None, {})]
    cfg = CompressConfig(block_fc=(2, 4), block_conv=(4, 1, 1, 1), sparsity_conv=0.5,
                         sparsity_fc=0.5, bits_conv=4, steps=1)
    return compress_network(layers, cfg)[0]


@pytest.mark.parametrize("edit_header, message", [
    (lambda h: h["layers"][1].pop("padding"),
     r"layer 1 \('conv2'\): field 'padding' is missing \(a conv layer has one\)"),
    (lambda h: h["layers"][0].pop("stride"), r"layer 0 \('conv1'\): field 'stride' is missing"),
    (_set(1, stride=1.5), r"layer 1 \('conv2'\): field 'stride' must be int"),
    (_set(1, padding=3), r"layer 1 \('conv2'\): field 'padding' must be an integer in 0..2"),
    (lambda h: h.update(layers=[h["layers"][2]] + h["layers"][:2]),
     r"field 'kind': a conv layer after an FC layer|array 'L0"),
])
def test_conv_layers_need_their_fields_and_order(tmp_path, edit_header, message):
    path = _rewrite(tmp_path, small_cnn(), edit_header)
    with pytest.raises(ModelFormatError, match=message):
        load(path)


def test_fc_then_conv_order_is_refused(tmp_path):
    model = small_cnn()
    model.layers = [model.layers[2], model.layers[0]]
    with pytest.raises(ModelFormatError, match=r"layer 1 \('conv1'\): field 'kind': a conv "
                                               r"layer after an FC layer"):
        save(model, tmp_path / "x.npz")


def test_a_small_file_declaring_a_huge_layer_allocates_nothing_big(tmp_path):
    import tracemalloc
    model, _ = small_model()
    # 8192 x 8192 = 67 M weights in one block, pruned: the file is a few hundred bytes.
    path = _rewrite(tmp_path, model, _set(0, shape=[24, 8192 * 8192 // 24 + 7],
                                          block=[24, 8192 * 8192]))
    tracemalloc.start()
    with pytest.raises(ModelFormatError, match=r"layer 0 \('fc1'\): array 'L0.block_mask' has"):
        load(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20, peak
    one_block = np.packbits([False])
    path = _rewrite(tmp_path, model, _set(0, shape=[24, 8192 * 8192 // 24], block=[24, 1 << 30],
                                          count=0),
                    lambda a: a.update({"L0.block_mask": one_block,
                                        "L0.indices": np.zeros(0, np.uint8)}))
    tracemalloc.start()
    with pytest.raises(ModelFormatError, match="keeps no weight|takes"):
        load(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_save_refuses_an_invalid_model(tmp_path):
    model, _ = small_model()
    layer = model.layers[0]
    broken = Layer(**{**layer.__dict__, "codes": layer.codes[:-1]})
    with pytest.raises(ModelFormatError, match="differs from the popcount"):
        save(Model([broken] + model.layers[1:]), tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_report_structure_and_both_columns():
    _, report = small_model()
    assert len(report["layers"]) == 2
    for row in report["layers"] + [report["total"]]:
        for key in ("sparsity", "r_p", "r_q", "r_c", "bits_per_weight", "index_bytes", "R_irr"):
            assert key in row and key in row["baseline"]
        assert row["r_c"] == pytest.approx(
            (row.get("original_bytes") or sum(r["original_bytes"] for r in report["layers"]))
            / (row["W_c"] + row["I_c"]))
    assert report["total"]["r_c"] > report["total"]["baseline"]["r_c"]


# --- the CLI ---------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "golden.compress", *map(str, args)],
                          capture_output=True, text=True)


def test_cli_end_to_end(tmp_path):
    rng = np.random.default_rng(7)
    np.savez(tmp_path / "w.npz", **{"a.weight": rng.normal(size=(16, 4, 3, 3)),
                                    "a.padding": np.array(1),
                                    "b.weight": rng.normal(size=(32, 48)),
                                    "b.bias": rng.normal(size=32),
                                    "c.weight": rng.normal(size=(10, 32))})
    proc = run_cli(tmp_path / "w.npz", "-o", tmp_path / "m.npz", "--report", tmp_path / "rep",
                   "--block-fc", "4,4", "--sparsity-fc", "0.7", "--bits-fc", "5",
                   "--region-fc", "16,48", "--tn-align", "4", "--score", "max")
    assert proc.returncode == 0, proc.stderr
    model = load(tmp_path / "m.npz")
    assert [layer.name for layer in model.layers] == ["a", "b", "c"]
    assert model.layers[1].bits == 5 and model.layers[1].slot == 8
    assert model.layers[0].kind == "conv" and model.layers[0].block == (16, 1, 1, 1)
    assert model.layers[0].padding == 1 and model.layers[0].stride == 1
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [r["name"] for r in report["layers"]] == ["a", "b", "c"]
    assert "| a | coarse |" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.parametrize("setup, args, message", [
    (None, ["missing.npz"], "missing.npz: no such file"),
    ({"x.weight": np.zeros((2, 3, 4))}, [], r"x.weight must be 2-D \(fc\) or 4-D \(conv\)"),
    ({"x.weight": np.zeros((2, 3)), "x.bias": np.zeros(3)}, [], r"x.bias must have shape \(2,\)"),
    ({"x.weight": np.zeros((2, 3))}, ["--sparsity", "1.5"], r"sparsity must be in \[0, 1\)"),
    ({"x.weight": np.zeros((2, 3))}, ["--bits-fc", "0"],
     r"bits-fc must be 1\.\.8 \(codebook indices\) or 16 \(raw int16 weights\), not 0"),
    ({"x.weight": np.zeros((2, 3))}, ["--block-fc", "4"], r"argument --block-fc: expected 2"),
    ({"x": np.zeros(3)}, [], r"array 'x' is not named NAME.weight"),
])
def test_cli_errors_are_one_line(tmp_path, setup, args, message):
    src = tmp_path / "w.npz"
    if setup is not None:
        np.savez(src, **setup)
    argv = args if args and args[0].endswith(".npz") else [src, *args]
    if args and args[0] == "missing.npz":
        argv = [tmp_path / "missing.npz"]
    proc = run_cli(*argv, "-o", tmp_path / "m.npz")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # argparse may print its usage first
    assert last.startswith("python -m golden.compress: error: ")
    assert re.search(message, last), proc.stderr
    assert not (tmp_path / "m.npz").exists()


# --- the digits networks -----------------------------------------------------------------

def test_digits_pipeline_small(tmp_path):
    from golden.data.digits import run
    summary = run(tmp_path, epochs=40, retrain_epochs=5, cnn_epochs=3, steps=2, sparsity=0.7,
                  log=lambda *a: None)
    mlp = summary["mlp"]
    assert mlp["accuracy_float"] > 0.9
    assert mlp["accuracy_quantized"] > 0.8
    # The fixed-point golden inference agrees with the float model's decisions.
    assert abs(mlp["accuracy_fixed"] - mlp["accuracy_quantized"]) < 0.03
    total = mlp["compression"]["total"]
    assert total["r_c"] > total["baseline"]["r_c"]
    assert total["R_irr"] > 1
    assert (tmp_path / "mlp.npz").exists() and (tmp_path / "cnn.npz").exists()
    assert load(tmp_path / "cnn.npz").layers[0].kind == "conv"
    assert "| mlp |" in (tmp_path / "report.md").read_text()
    # The CNN's fixed-point inference (golden/twins/conv.py) tracks its quantized float
    # model's decisions too.
    cnn = summary["cnn"]
    assert cnn["accuracy_quantized"] > 0.5
    assert abs(cnn["accuracy_fixed"] - cnn["accuracy_quantized"]) < 0.03


def test_cnn_gradients_match_finite_differences():
    from golden.data.digits import CNN
    rng = np.random.default_rng(0)
    net = CNN(c1=2, c2=3, seed=1)
    x, y = rng.random((3, 64)), np.array([1, 4, 7])
    _, grads = net.loss_grads(x, y)
    for key in ("conv1.weight", "conv2.weight", "fc.weight", "conv2.bias"):
        p = net.params[key]
        idx = tuple(rng.integers(0, s) for s in p.shape)
        old = p[idx]
        p[idx] = old + 1e-5
        up, _ = net.loss_grads(x, y)
        p[idx] = old - 1e-5
        down, _ = net.loss_grads(x, y)
        p[idx] = old
        assert grads[key][idx] == pytest.approx((up - down) / 2e-5, rel=1e-3, abs=1e-7)
