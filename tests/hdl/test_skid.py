"""The skid buffer, its ping-pong twin and the small parts' register slice in
Amaranth simulation: random stalls on both sides, nothing dropped or repeated,
one beat a cycle without stalls, one edge of latency; the two buffers the same
cycle for cycle, and the register slice the same as the skid buffer at the
consumer's side.  The typed FIFO with its
registered ready, the same as the library FIFO inside it cycle for cycle."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, unsigned
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.sim import Simulator

from hdl.control.bus import StreamFIFO
from hdl.datapath.skid import PingPongBuffer, RegisterSlice, SkidBuffer, stream_stage
from tb.sim.simstreams import Scenario, run_streams

BUFFERS = [SkidBuffer, PingPongBuffer, RegisterSlice]


@pytest.mark.parametrize("buffer", BUFFERS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("p_valid, p_ready", [(0.7, 0.7), (1.0, 0.3), (0.3, 1.0)])
def test_random_stalls_keep_every_beat_in_order(buffer, seed, p_valid, p_ready):
    scenario = Scenario(seed, {"p_valid": p_valid, "p_ready": p_ready})
    rng = random.Random(seed)
    beats = [rng.getrandbits(12) for _ in range(200)]
    got, _ = run_streams(buffer(unsigned(12)), beats, len(beats), seed=seed,
                         p_valid=p_valid, p_ready=p_ready)
    assert [int(b) for b in got] == beats, \
        (f"replay: pytest 'tests/hdl/test_skid.py' "
         f"-k '{buffer.__name__}-{seed}-{p_valid}-{p_ready}' ({scenario})")


@pytest.mark.parametrize("buffer", BUFFERS, ids=lambda b: b.__name__)
def test_a_beat_a_cycle_after_one_edge(buffer):
    beats = list(range(1, 41))
    got, cycles = run_streams(buffer(unsigned(8)), beats, len(beats), seed=0,
                              p_valid=1.0, p_ready=1.0)
    assert [int(b) for b in got] == beats
    # the first beat offered in cycle 0 leaves from the output register in cycle 1
    assert cycles == len(beats) + 1


class _Pair(Elaboratable):
    """Stream stages side by side, each an attribute by its keyword."""
    def __init__(self, **stages):
        self._stages = stages
        for name, stage in stages.items():
            setattr(self, name, stage)

    def elaborate(self, platform):
        m = Module()
        for name, stage in self._stages.items():
            m.submodules[name] = stage
        return m


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ping_pong_is_the_skid_buffer_cycle_for_cycle(seed):
    """Any inputs (a producer that withdraws its beat included): the same ``i.ready``,
    ``o.valid`` and, when valid, ``o.payload`` in every cycle, so one replaces the
    other without a cycle's difference."""
    dut = _Pair(skid=SkidBuffer(unsigned(8)), pingpong=PingPongBuffer(unsigned(8)))
    rng = random.Random(seed)
    seen = {"valid": 0, "taken": 0}

    async def bench(ctx):
        for cycle in range(600):
            valid, payload, ready = rng.random() < 0.6, rng.getrandbits(8), rng.random() < 0.5
            for b in (dut.skid, dut.pingpong):
                ctx.set(b.i.valid, valid)
                ctx.set(b.i.payload, payload)
                ctx.set(b.o.ready, ready)
            a, p = dut.skid, dut.pingpong
            state = [(ctx.get(b.i.ready), ctx.get(b.o.valid)) for b in (a, p)]
            assert state[0] == state[1], f"cycle {cycle}: (i.ready, o.valid) {state} (seed {seed})"
            if state[0][1]:
                seen["valid"] += 1
                seen["taken"] += ready
                assert ctx.get(a.o.payload) == ctx.get(p.o.payload), \
                    f"cycle {cycle}: payloads differ (seed {seed})"
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # both sides stalled and flowed: full, empty and moving states were all compared
    assert seen["taken"] > 100 and seen["valid"] > seen["taken"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_register_slice_gives_the_skid_buffers_beats_in_the_same_cycles(seed):
    """Each fed by its own producer that offers beat k from cycle ``avail[k]`` on
    (or the cycle after beat k - 1 was taken, if later) and holds it until taken,
    with the same consumer: the same ``o.valid`` and payload in every cycle.  (The
    producer of the register slice has its beats taken later: the skid register
    takes one while the output stalls.)"""
    dut = _Pair(skid=stream_stage(unsigned(8)), slice=stream_stage(unsigned(8), compact=True))
    rng = random.Random(seed)
    n = 300
    avail = sorted(rng.randrange(4 * n // 3) for _ in range(n))
    beats = [rng.getrandbits(8) for _ in range(n)]
    readies = [rng.random() < 0.5 for _ in range(2 * n)]
    state = {"skid": [0, 0], "slice": [0, 0]}       # next beat, cycle it may be offered
    seen = {"out": 0, "early": 0}

    async def bench(ctx):
        for cycle in range(2 * n):
            offers = {}
            for name in state:
                b = getattr(dut, name)
                k, free = state[name]
                offers[name] = k < n and cycle >= max(avail[k], free)
                ctx.set(b.i.valid, offers[name])
                ctx.set(b.i.payload, beats[k] if k < n else 0)
                ctx.set(b.o.ready, readies[cycle])
            s, r = dut.skid, dut.slice
            assert ctx.get(s.o.valid) == ctx.get(r.o.valid), f"cycle {cycle} (seed {seed})"
            if ctx.get(s.o.valid):
                seen["out"] += 1
                assert ctx.get(s.o.payload) == ctx.get(r.o.payload), f"cycle {cycle} (seed {seed})"
            taken = {name: offers[name] and ctx.get(getattr(dut, name).i.ready) for name in state}
            seen["early"] += taken["skid"] and not taken["slice"]
            for name in state:
                if taken[name]:
                    state[name] = [state[name][0] + 1, cycle + 1]
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert state["skid"][0] == state["slice"][0] == n       # every beat went through both
    assert seen["out"] > n and seen["early"] > 10           # stalls, and beats the skid took early


class _FIFOs(Elaboratable):
    """A StreamFIFO and the SyncFIFOBuffered it stands for, on the same inputs."""
    def __init__(self, depth):
        self.stream = StreamFIFO(unsigned(8), depth=depth)
        self.fifo = SyncFIFOBuffered(width=8, depth=depth)

    def elaborate(self, platform):
        m = Module()
        m.submodules.stream, m.submodules.fifo = self.stream, self.fifo
        return m


@pytest.mark.parametrize("depth", [2, 3, 5, 16])
@pytest.mark.parametrize("seed", [1, 2])
def test_stream_fifo_ready_is_the_fifos_cycle_for_cycle(depth, seed):
    """StreamFIFO's registered ``i.ready`` is SyncFIFOBuffered's ``w_rdy`` in every
    cycle, and what comes out the same, a producer faster than the consumer and
    the other way round (full and empty both reached)."""
    dut = _FIFOs(depth)
    rng = random.Random(seed)
    seen = {"full": 0, "empty": 0}

    async def bench(ctx):
        for cycle in range(800):
            fast_in = (cycle // 100) % 2 == 0
            valid = rng.random() < (0.9 if fast_in else 0.3)
            ready = rng.random() < (0.3 if fast_in else 0.9)
            payload = rng.getrandbits(8)
            s, f = dut.stream, dut.fifo
            ctx.set(s.i.valid, valid)
            ctx.set(f.w_en, valid)
            ctx.set(s.i.payload, payload)
            ctx.set(f.w_data, payload)
            ctx.set(s.o.ready, ready)
            ctx.set(f.r_en, ready)
            got = (ctx.get(s.i.ready), ctx.get(s.o.valid))
            want = (ctx.get(f.w_rdy), ctx.get(f.r_rdy))
            assert got == want, f"cycle {cycle}: (ready, valid) {got}, FIFO {want} " \
                                f"(depth {depth}, seed {seed})"
            if want[1]:
                assert ctx.get(s.o.payload) == ctx.get(f.r_data), f"cycle {cycle} (seed {seed})"
            seen["full"] += not want[0]
            seen["empty"] += not want[1]
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["full"] > 20 and seen["empty"] > 20
