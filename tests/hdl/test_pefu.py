"""The PEFU in Amaranth simulation against golden.twins.pefu, with random stalls."""

import numpy as np
import pytest

from golden.twins.pefu import pefu as golden_pefu
from hdl.datapath.pefu import PEFU
from tb.sim.simstreams import Scenario, run_streams
from tb.sim.workloads import pefu_beats as beats_of
from tb.sim.workloads import pefu_expected as expected_of
from tb.sim.workloads import pefu_workload


@pytest.mark.parametrize("tm, operand_register", [(2, True), (4, True), (16, True), (2, False),
                                                (4, False)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_beats_random_stalls(tm, operand_register, seed):
    scenario = Scenario(seed, {"tm": tm, "operand_register": operand_register})
    work = pefu_workload(np.random.default_rng(seed), tm, n_outputs=60)
    dut = PEFU(tm=tm, operand_register=operand_register)
    got, _ = run_streams(dut, beats_of(work), len(work["bias"]), seed=seed)
    expected = expected_of(work)
    mismatch = [k for k in range(len(expected)) if got[k] != int(expected[k])]
    assert not mismatch, (
        f"[{scenario}] output {mismatch[0]}: RTL {got[mismatch[0]]}, "
        f"golden {int(expected[mismatch[0]])} ({len(mismatch)} mismatches); "
        f"replay: pytest 'tests/hdl/test_pefu.py::test_random_beats_random_stalls"
        f"[{seed}-{tm}-{operand_register}]'")


@pytest.mark.parametrize("tm, operand_register", [(2, True), (8, True), (2, False)])
def test_latency_is_as_documented(tm, operand_register):
    dut = PEFU(tm=tm, operand_register=operand_register)
    # (log2(tm) + 12 edges, one fewer without the operand register)
    assert dut.latency == tm.bit_length() - 1 + 12 - (not operand_register)
    work = pefu_workload(np.random.default_rng(7), tm, n_outputs=1, max_beats=1)
    # One beat, accepted at the first edge; an always-ready consumer counts
    # the edges until the output is taken.
    got, cycles = run_streams(dut, beats_of(work), 1, seed=0, p_valid=1.0, p_ready=1.0)
    assert got == [int(expected_of(work)[0])]
    # The producer's beat is taken at edge 1, the result `latency` edges later.
    assert cycles == 1 + dut.latency


@pytest.mark.parametrize("tm", [2, 16])
def test_one_beat_per_cycle_without_stalls(tm):
    dut = PEFU(tm=tm)
    n = 40
    work = pefu_workload(np.random.default_rng(3), tm, n_outputs=n, max_beats=1)
    got, cycles = run_streams(dut, beats_of(work), n, seed=0, p_valid=1.0, p_ready=1.0)
    np.testing.assert_array_equal(got, expected_of(work))
    # n beats back to back at edges 1..n: the last result leaves `latency` edges later.
    assert cycles == n + dut.latency


def test_long_accumulation_does_not_wrap():
    # 64 beats of (-32768 * -32768) x 4 = 2**38 total, far past 32 bits.
    tm, n_beats = 4, 64
    dut = PEFU(tm=tm, max_fanin=tm * n_beats)
    assert dut.acc_width == 32 + 8
    # Shift 24 brings 2**38 to 16384: any wrap of the accumulator would show.
    beat = {"neuron": [-32768] * tm, "weight": [-32768] * tm, "last": 0,
            "bias": 0, "shift": 24, "activation": 0}
    beats = [dict(beat) for _ in range(n_beats)]
    beats[-1]["last"] = 1
    got, _ = run_streams(dut, beats, 1, seed=5)
    neurons = np.full((n_beats, tm), -32768)
    last = np.arange(n_beats) == n_beats - 1
    assert got == golden_pefu(neurons, neurons, last, 0, 24).tolist() == [16384]


@pytest.mark.parametrize("kwargs, message", [
    (dict(tm=3), r"^tm must be a power of two in 2\.\.256, not 3$"),
    (dict(tm=1), r"^tm must be a power of two in 2\.\.256, not 1$"),
    (dict(tm="4"), r"^tm must be an integer, not '4'$"),
    (dict(tm=4, neuron_width=1), r"^neuron_width must be an integer in 2\.\.32, not 1$"),
    (dict(tm=4, weight_width=0), r"^weight_width must be an integer in 2\.\.32, not 0$"),
    (dict(tm=4, max_fanin=2), r"^max_fanin must be an integer in 4\.\.16777216, not 2$"),
    (dict(tm=4, shift_width=6), r"^shift_width must be an integer in 1\.\.5, not 6$"),
    (dict(tm=4, operand_register=0), r"^operand_register must be True or False, not 0$"),
    (dict(tm=4, activations=("relu", "gelu")), r"^activations must be a non-empty list"),
])
def test_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PEFU(**kwargs)


def test_accumulator_width_follows_tm_and_fanin():
    assert PEFU(tm=16).acc_width == 32 + 16
    assert PEFU(tm=16, max_fanin=16).acc_width == 32 + 4
    assert PEFU(tm=2, max_fanin=1000).acc_width == 32 + 10
