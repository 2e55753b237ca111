"""The demo pipeline at a reduced size: trains, compresses, runs the Verilog."""

import json

import pytest

from tb.demo import run_demo

pytestmark = pytest.mark.cocotb


def test_demo_small(tmp_path):
    report = run_demo(tmp_path, tn=4, tm=4, images=3, epochs=60, area=False,
                      log=lambda *a: None)
    saved = json.loads((tmp_path / "report.json").read_text())
    for key in ("bit_exact", "accuracy_float", "accuracy_rtl", "compression_ratio",
                "baseline_compression_ratio", "speedup"):
        assert key in saved
    assert saved["bit_exact"] is True
    assert saved["compression_ratio"] > saved["baseline_compression_ratio"]
    # The ratios are the cycle counts' ratios, recomputed.
    assert saved["speedup"] == pytest.approx(saved["cycles_dense"] / saved["cycles_sparse"])
    assert saved["speedup"] > 1  # sparse beats dense on the same RTL
    # the images run as one batch, the layers under one reuse strategy each
    assert saved["batches"] == 1 and saved["reuse"][0][0] in ("input", "synapse")
    assert saved["reuse_dense"] == saved["reuse"]      # dense under the sparse tiling
    # RTL accuracy on the subset equals the golden fixed-point accuracy on it.
    assert saved["accuracy_rtl"] == saved["accuracy_fixed_subset"]
    # Energy per image (golden.energy): sparse below dense, off-chip the largest share
    # (its event counts were checked against the RTL's counters by the demo itself).
    assert 0 < saved["energy_pj_sparse"] < saved["energy_pj_dense"]
    assert 0.5 < saved["energy_offchip_share"] < 1 and 0 < saved["energy_onchip_buffer_share"] < 1
    assert saved["energy_pj_sparse"] == pytest.approx(
        sum(saved["energy_components_sparse"].values()))
    assert 0 < saved["events_sparse"]["steps"] < saved["events_dense"]["steps"]
    assert "16" in saved["energy_pj_by_width"] and saved["energy_table"]["name"]
    for png in ("compression.png", "cycles.png", "accuracy.png", "energy.png"):
        assert (tmp_path / png).stat().st_size > 1000
    text = (tmp_path / "report.md").read_text()
    assert "bit-exact (RTL = golden, sparse and dense) | yes" in text
    assert report == saved


@pytest.mark.slow
def test_demo_cnn_small(tmp_path):
    """make demo MODEL=cnn at a reduced size: the digits CNN as one program on the
    Verilog, bit-exact, its RTL accuracy the fixed-point golden's, beside the
    host-im2col route."""
    from tb.demo import run_cnn_demo
    report = run_cnn_demo(tmp_path, tn=4, tm=4, images=2, epochs=60, log=lambda *a: None)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert report == saved and saved["bit_exact"] is True and saved["model"] == "cnn"
    assert saved["programs_sparse"] == 1 and saved["programs_sparse_im2col"] > 1
    assert saved["accuracy_rtl"] == saved["accuracy_fixed_subset"]
    assert saved["model_cycles_sparse"] == saved["cycles_sparse"]
    assert list(saved["layer_cycles_sparse"]) == ["conv1", "conv2", "fc"]
    assert saved["speedup"] == pytest.approx(saved["cycles_dense"] / saved["cycles_sparse"])
    assert saved["compression_ratio"] > saved["baseline_compression_ratio"]
    assert "bit-exact (RTL = golden, every run) | yes" in (tmp_path / "report.md").read_text()
