"""SSM sequencer, H-tree, PE and the composed slice in Amaranth simulation,
against the golden model and dense arithmetic."""

import numpy as np
import pytest

from golden.contract.fixed import output_stage
from golden.contract.isa import Slot
from golden.twins.ssm import tile_steps
from hdl.datapath.htree import HTree
from hdl.datapath.slice import SparseSlice
from hdl.datapath.ssm import SSMSequencer, step_layout
from tb.sim.simstreams import Scenario, run_streams, write_ports
from tb.sim.workloads import slice_expected, slice_inputs, slice_workload


def run_slice(tn, tm, seed, n_tiles=5, widths=(4, 8, 16), **kw):
    rng = np.random.default_rng(seed)
    window = 16 * tm
    luts, tiles = slice_workload(rng, tn, tm, window, n_tiles, sb_depth=256, widths=widths)
    inputs = slice_inputs(luts, tiles, window)
    dut = SparseSlice(tn=tn, tm=tm, sb_depth=256, widths=widths)
    feeds = [(dut.i, inputs["i"]), (dut.neurons, inputs["neurons"]),
             (dut.tile, inputs["tile"]), (dut.bias, inputs["bias"])]
    writes = write_ports([(dut.sb_write, inputs["sb_write"]), (dut.lut, inputs["lut"])])
    got, _ = run_streams(dut, feeds, len(tiles), seed=seed, setup=writes,
                         max_cycles=20000, **kw)
    return [[int(v) for v in g] for g in got], tiles


@pytest.mark.parametrize("tn, tm, seed", [
    (tn, tm, seed) if (tn, tm) != (16, 2) or seed == 1
    else pytest.param(tn, tm, seed, marks=pytest.mark.slow)     # 16 PEs: one seed here
    for tn, tm in [(2, 2), (4, 4), (2, 16), (16, 2)] for seed in (1, 2, 3)])
def test_slice_matches_golden_and_dense(tn, tm, seed):
    got, tiles = run_slice(tn, tm, seed)
    expected = slice_expected(tiles, tm, 16 * tm)
    for t, (g, e, tile) in enumerate(zip(got, expected, tiles)):
        dense = output_stage(tile["weights"] @ tile["neurons_dense"], tile["bias"],
                             tile["shift"], tile["activation"])
        assert e == dense.tolist()  # the golden composition is dense arithmetic
        assert g == e, f"[{Scenario(seed, {'tn': tn, 'tm': tm})}] tile {t} (slot {tile['slot']})"


def test_step_count_follows_golden_ssm_schedule():
    # The sequencer emits golden.twins.ssm.tile_steps' steps (one tile of 30 beats).
    tm = 4
    seq = SSMSequencer(tm=tm)
    rng = np.random.default_rng(3)
    beats, indices = [], []
    start = 0
    for b in range(30):
        n = int(rng.integers(0, tm + 1))
        idx = sorted(rng.choice(np.arange(start, start + 7 * tm), size=n, replace=False).tolist())
        start = idx[-1] + 1 if idx else start
        beats.append({"valid": (1 << n) - 1, "neuron": [0] * tm,
                      "neuron_index": [0] * tm,
                      "synapse_index": idx + [0] * (tm - n), "last": int(b == 29)})
        indices.append(idx)
    expected_steps = sum(len(s) for s in tile_steps(indices, tm))
    tile = [{"sb_base": 0, "slot": Slot.of(16).value}]
    got, _ = run_streams(seq, [(seq.i, beats), (seq.tile, tile)], expected_steps, seed=3)
    assert sum(int(s.final) for s in got) == 30
    assert int(got[-1].last) == 1 and sum(int(s.last) for s in got) == 1
    # Each beat's lanes are resolved exactly once across its steps.
    k = 0
    for beat in beats:
        mask = 0
        while True:
            s = got[k]
            k += 1
            resolved = int(s.mask) | int(s.mask_held)
            assert resolved & mask == 0 and int(s.mask) & int(s.mask_held) == 0
            mask |= resolved
            if s.final:
                break
        assert mask == beat["valid"]


@pytest.mark.parametrize("tm, seed", [(2, 1), (4, 2), (4, 3), (8, 4), (16, 5)])
def test_sequencer_steps_match_golden(tm, seed):
    # Every step of several tiles, field by field, against golden.twins.ssm.tile_steps:
    # the window read (the SB address at base 0 with 16-bit slots), the lanes read
    # from it and the lanes taken from the held window.  Indices rise through a
    # tile (the NSM's order) with gaps from none to several windows.
    rng = np.random.default_rng(seed)
    beats, expected = [], []
    for _tile in range(4):
        tile, nxt = [], 0
        for _beat in range(int(rng.integers(1, 25))):
            n = int(rng.integers(0, tm + 1))
            gaps = rng.integers(0, int(rng.choice([1, tm, 8 * tm])), size=n)
            idx = (nxt + np.cumsum(gaps) + np.arange(n)).tolist()
            nxt = idx[-1] + 1 if n else nxt
            tile.append(idx)
        for b, idx in enumerate(tile):
            beats.append({"valid": (1 << len(idx)) - 1, "neuron": [0] * tm,
                          "neuron_index": [0] * tm,
                          "synapse_index": idx + [0] * (tm - len(idx)),
                          "last": int(b == len(tile) - 1)})
        expected += [step for beat in tile_steps(tile, tm) for step in beat]
    tiles = [{"sb_base": 0, "slot": Slot.of(16).value}] * 4
    seq = SSMSequencer(tm=tm)
    got, _ = run_streams(seq, [(seq.i, beats), (seq.tile, tiles)], len(expected), seed=seed)
    where = Scenario(seed, {"tm": tm})
    for k, (g, (window, from_read, from_held)) in enumerate(zip(got, expected)):
        assert (int(g.sb_addr), int(g.mask), int(g.mask_held)) == \
            (window, sum(1 << x for x in from_read), sum(1 << x for x in from_held)), \
            f"[{where}] step {k}"


@pytest.mark.parametrize("tn, lpr", [(1, 1), (2, 1), (8, 1), (8, 2), (16, 3)])
def test_htree_broadcasts_every_beat_to_every_leaf(tn, lpr):
    dut = HTree(16, tn=tn, levels_per_register=lpr)
    beats = list(range(1, 60))
    got, _ = run_streams(dut, beats, len(beats), seed=tn + lpr)
    assert [[int(x) for x in g] for g in got] == [[b] * tn for b in beats]


def test_htree_latency_and_rate():
    dut = HTree(step_layout(tm=2), tn=8)
    assert dut.latency == 1 + 3
    beats = [{"sb_addr": k} for k in range(10)]
    _, cycles = run_streams(dut, beats, 10, seed=0, p_valid=1.0, p_ready=1.0)
    assert cycles == 1 + dut.latency + 9  # the first at edge 1 + latency, then one a cycle


@pytest.mark.parametrize("kwargs, message", [
    (dict(tn=3, tm=2), r"^tn must be a power of two in 1\.\.64, not 3$"),
    (dict(tn=2, tm=1), r"^tm must be a power of two in 2\.\.64, not 1$"),
    (dict(tn=2, tm=2, sb_depth=1), r"^sb_depth must be an integer in 2\.\.65536, not 1$"),
])
def test_slice_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseSlice(**kwargs)
