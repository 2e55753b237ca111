"""An LSTM cell step: the gate layers on the accelerator (sigmoid/tanh in the
PEFU), the cell-state update on the host, in one fixed point (golden/twins/lstm.py)."""

import math

import numpy as np
import pytest

from golden.compiler import compile_model, small_config
from golden.contract.activation import ACT_FRAC, pwl
from golden.twins.infer import quantize_input
from golden.twins.lstm import compress_cell, host_update, step, step_float, step_with
from tb.sim.accel_sim import MemoryModel, run_accelerator

SEED = 5


def _cell(rng, inputs=12, hidden=8, sparsity=0.5, scale=0.5):
    w = rng.normal(size=(4 * hidden, inputs + hidden)) * scale
    b = rng.normal(size=4 * hidden) * 0.2
    return compress_cell(w, b, inputs, sparsity=sparsity, bits=8)


def test_host_update_hand_worked():
    # i = 1.0, f = 0.5, o = 1.0, g = 0.5, c = 100/256 at 8 fractional bits:
    # f*c = 12800/256 = 50 (50.0 + 0.5 rounds... (12800 + 128) >> 8 = 50),
    # i*g = 128, c' = 178; h' = o * tanh(c') = the table's tanh(178).
    sig = np.array([[256, 128, 256]], dtype=np.int16)     # i, f, o
    tan = np.array([[128]], dtype=np.int16)               # g
    h, c = host_update(sig, tan, np.array([[100]], dtype=np.int16))
    assert int(c[0, 0]) == 178
    assert int(h[0, 0]) == int(pwl("tanh", 178, ACT_FRAC))
    assert abs(int(h[0, 0]) / 256 - math.tanh(178 / 256)) < 2 / 256
    # Saturation: c' cannot leave int16.
    _, c = host_update(np.array([[256, 256, 256]], np.int16), np.array([[256]], np.int16),
                       np.array([[32767]], np.int16))
    assert int(c[0, 0]) == 32767


def test_golden_step_tracks_float():
    rng = np.random.default_rng(SEED)
    cell = _cell(rng, sparsity=0.0)
    x = rng.normal(size=(3, 12)) * 0.5
    h = np.zeros((3, 8))
    c = np.zeros((3, 8))
    hq, cq = np.zeros((3, 8), np.int16), np.zeros((3, 8), np.int16)
    for _ in range(4):
        h, c = step_float(cell, x, h, c)
        hq, cq = step(cell, quantize_input(x, ACT_FRAC), hq, cq)
    # 8-bit weights, int16 values at 2**-8: the error stays a few hundredths.
    assert np.max(np.abs(hq / 256 - h)) < 0.06, f"seed {SEED}"
    assert np.max(np.abs(cq / 256 - c)) < 0.1, f"seed {SEED}"
    assert np.abs(hq).max() > 10                            # not a trivially zero state


def test_bad_shapes_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="must be .4H, X.H."):
        compress_cell(rng.normal(size=(6, 10)), np.zeros(6), 4)
    with pytest.raises(ValueError, match="inputs .5. \\+ hidden .2."):
        compress_cell(rng.normal(size=(8, 10)), np.zeros(8), 5)
    cell = _cell(rng)
    with pytest.raises(ValueError, match="x must have 12 columns"):
        step(cell, np.zeros((1, 11), np.int16), np.zeros((1, 8), np.int16),
             np.zeros((1, 8), np.int16))


@pytest.mark.parametrize("dense", [False, True])
def test_rtl_step_bit_exact_in_amaranth_simulation(dense):
    rng = np.random.default_rng(SEED)
    cell = _cell(rng)
    cfg = small_config(4, 4)

    def on_rtl(model, z):
        program = compile_model(model, cfg, z, dense=dense)
        got, counters, _ = run_accelerator(program, MemoryModel(latency=3))
        assert counters["cycles"] > 0
        return got

    x = quantize_input(rng.normal(size=(2, 12)) * 0.5, ACT_FRAC)
    h = c = np.zeros((2, 8), np.int16)
    hg = cg = h
    for t in range(2):                     # the state carries over
        h, c = step_with(cell, on_rtl, x, h, c)
        hg, cg = step(cell, x, hg, cg)
        np.testing.assert_array_equal(h, hg, err_msg=f"seed {SEED} step {t} dense={dense}")
        np.testing.assert_array_equal(c, cg, err_msg=f"seed {SEED} step {t} dense={dense}")
    assert np.abs(h).max() > 0


@pytest.mark.cocotb
def test_rtl_step_bit_exact_on_verilog(tmp_path):
    """The same step on the generated Verilog (Icarus), one build for both layers."""
    from tb.run import run_model
    rng = np.random.default_rng(SEED + 1)
    cell = _cell(rng, inputs=10, hidden=4)
    cfg = small_config(2, 2)
    state = {}

    def on_verilog(model, z):
        res = run_model(model, z, cfg, sim="icarus", workdir=tmp_path / "run",
                        runner=state.get("runner"))
        state["runner"] = res["runner"]
        assert res["bit_exact"], res["mismatch"]
        return res["outputs"]

    x = quantize_input(rng.normal(size=(2, 10)) * 0.5, ACT_FRAC)
    h = c = np.zeros((2, 4), np.int16)
    got = step_with(cell, on_verilog, x, h, c)
    want = step(cell, x, h, c)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w, err_msg=f"seed {SEED + 1}")
