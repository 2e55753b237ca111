"""The skid buffer in Amaranth simulation: random stalls on both sides, nothing
dropped or repeated, one beat a cycle without stalls, one edge of latency."""

import random

import pytest
from amaranth.hdl import unsigned

from hdl.datapath.skid import SkidBuffer
from tb.sim.simstreams import Scenario, run_streams


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("p_valid, p_ready", [(0.7, 0.7), (1.0, 0.3), (0.3, 1.0)])
def test_random_stalls_keep_every_beat_in_order(seed, p_valid, p_ready):
    scenario = Scenario(seed, {"p_valid": p_valid, "p_ready": p_ready})
    rng = random.Random(seed)
    beats = [rng.getrandbits(12) for _ in range(200)]
    got, _ = run_streams(SkidBuffer(unsigned(12)), beats, len(beats), seed=seed,
                         p_valid=p_valid, p_ready=p_ready)
    assert [int(b) for b in got] == beats, \
        f"replay: pytest 'tests/hdl/test_skid.py' -k '{seed}-{p_valid}-{p_ready}' ({scenario})"


def test_a_beat_a_cycle_after_one_edge():
    beats = list(range(1, 41))
    got, cycles = run_streams(SkidBuffer(unsigned(8)), beats, len(beats), seed=0,
                              p_valid=1.0, p_ready=1.0)
    assert [int(b) for b in got] == beats
    # the first beat offered in cycle 0 leaves from the output register in cycle 1
    assert cycles == len(beats) + 1
