"""The NSM in Amaranth simulation against golden.twins.nsm, with random stalls."""

import numpy as np
import pytest

from hdl.datapath.logic import sklansky_levels
from hdl.datapath.nsm import NSM
from tb.sim.simstreams import Scenario, run_streams
from tb.sim.workloads import nsm_expected, nsm_inputs, nsm_workload


def as_dict(view_const, layout_fields=("valid", "neuron", "neuron_index", "synapse_index", "last")):
    out = {}
    for f in layout_fields:
        v = view_const[f]
        out[f] = [int(x) for x in v] if f in ("neuron", "neuron_index", "synapse_index") \
            else int(v)
    return out


def run_nsm(tm, window, seed, n_tiles=6, **kw):
    rng = np.random.default_rng(seed)
    tiles = nsm_workload(rng, tm, window, n_tiles)
    windows, neurons = nsm_inputs(tiles, window)
    expected = nsm_expected(tiles, tm, window)
    dut = NSM(tm=tm, window=window, **kw)
    got, cycles = run_streams(dut, [(dut.i, windows), (dut.neurons, neurons)],
                              len(expected), seed=seed)
    return [as_dict(g) for g in got], expected


@pytest.mark.parametrize("tm, window", [(2, 32), (4, 64), (4, 16), (16, 256)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_tiles_random_stalls(tm, window, seed):
    got, expected = run_nsm(tm, window, seed)
    for k, (g, e) in enumerate(zip(got, expected)):
        where = Scenario(seed, {"tm": tm, "window": window})
        assert g == e, f"[{where}] beat {k}: RTL {g} != golden {e}"


@pytest.mark.parametrize("lps", [1, 3])
def test_levels_per_stage_do_not_change_results(lps):
    got, expected = run_nsm(4, 64, seed=9, levels_per_stage=lps)
    assert got == expected


def test_thesis_example_in_hardware():
    # 11101010 & 00110011 at tm = 2, window 8: one beat, neurons 3, 5 (1-based) and
    # synapses 1, 3 (1-based).  The neuron values are n1, n2, n3, n5, n7 = 10..50.
    tiles = [{"nb": np.array([c == "1" for c in "11101010"]),
              "sb": np.array([c == "1" for c in "00110011"]),
              "neurons": np.array([10, 20, 30, 40, 50])}]
    windows, neurons = nsm_inputs(tiles, 8)
    dut = NSM(tm=2, window=8, index_width=8)
    got, _ = run_streams(dut, [(dut.i, windows), (dut.neurons, neurons)], 1, seed=0)
    beat = as_dict(got[0])
    assert beat == {"valid": 0b11, "neuron": [30, 50], "neuron_index": [2, 4],
                    "synapse_index": [0, 2], "last": 1}


def test_latency_is_as_documented():
    tiles = [{"nb": np.ones(16, bool), "sb": np.ones(16, bool), "neurons": np.arange(1, 17)}]
    windows, neurons = nsm_inputs(tiles, 16)
    dut = NSM(tm=4, window=16)
    _, cycles = run_streams(dut, [(dut.i, windows), (dut.neurons, neurons)], 4, seed=0,
                            p_valid=1.0, p_ready=1.0)
    # First beat after `latency` edges, then one beat per cycle.
    assert cycles == 1 + dut.latency + 3


@pytest.mark.parametrize("width", [1, 2, 8, 64, 256])
def test_sklansky_levels_compute_prefix_sums(width):
    x0 = list(np.random.default_rng(width).integers(0, 2, size=width))
    x = list(x0)
    for level in sklansky_levels(width):
        new = list(x)
        for t, s in level:
            new[t] = x[t] + x[s]
        x = new
    assert len(sklansky_levels(width)) == (width - 1).bit_length()  # log2 depth
    assert x == list(np.cumsum(x0))


@pytest.mark.parametrize("kwargs, message", [
    (dict(tm=3), r"^tm must be a power of two in 1\.\.64, not 3$"),
    (dict(tm=4, window=8), None),
    (dict(tm=4, window=2), r"^window must be a power of two in 4\.\.1024, not 2$"),
    (dict(tm=4, window=48), r"^window must be a power of two in 4\.\.1024, not 48$"),
    (dict(tm=4, index_width=4), r"^index_width must be an integer in 8\.\.32, not 4$"),
    (dict(tm=4, levels_per_stage=0), r"^levels_per_stage must be an integer in 1\.\.8, not 0$"),
])
def test_parameter_validation(kwargs, message):
    if message is None:
        assert NSM(**kwargs).window == kwargs["window"]
    else:
        with pytest.raises(ValueError, match=message):
            NSM(**kwargs)
