"""The control plane's units alone, in Amaranth simulation: the controller's
scoreboard and dual issue, the load unit's row assembly, the store unit's
Encoder packing and the compute unit's window skipping — each against the
golden model's rule or machine, with random memory stalls."""

import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from golden.compiler import compile_model
from golden.contract import sib as golden_sib
from golden.contract.config import small_config
from golden.contract.isa import (
    PAR_BIT,
    UNIT,
    WORD_BITS,
    Op,
    Slot,
    Target,
    accesses,
    conflict,
    decode,
    encode,
)
from golden.contract.layout import (
    MemoryImage,
    join_words,
    pack_values,
    split_words,
    unpack_values,
)
from golden.data.synthetic import random_inputs, random_model
from golden.twins.machine import Machine
from hdl.control.compute import ComputeUnit
from hdl.control.controller import UNITS, Controller, decode_resources
from hdl.control.dma import LoadUnit, StoreUnit


def _memory(cfg, rows, shape, init=()):
    return Memory(shape=shape, depth=rows, init=list(init))


def _serve_reads(port, image, rng, latency=3, p_stall=0.25):
    """A testbench: a memory behind a read channel, random stalls on requests and data."""
    async def serve(ctx):
        await _serve(ctx, port, image, rng, latency, p_stall)
    return serve


async def _serve(ctx, port, image, rng, latency, p_stall):
    pending = []
    cycle = 0
    while True:
        offer = bool(pending) and pending[0][0] <= cycle and rng.random() >= p_stall
        ctx.set(port.resp.valid, offer)
        if offer:
            ctx.set(port.resp.payload.data, pending[0][1])
        accept = rng.random() >= p_stall
        ctx.set(port.req.ready, accept)
        _, _, rq_v, rq_a, rs_r = await ctx.tick().sample(port.req.valid, port.req.payload.addr,
                                                         port.resp.ready)
        cycle += 1
        if offer and rs_r:
            pending.pop(0)
        if rq_v and accept:
            pending.append((cycle + latency, image.get(int(rq_a), 0)))


async def _issue(ctx, port, word):
    """Hand a unit one instruction and wait until it is idle again."""
    ctx.set(port.instr.payload, word)
    ctx.set(port.instr.valid, 1)
    await ctx.tick().until(port.instr.ready)
    ctx.set(port.instr.valid, 0)
    await ctx.tick()
    while ctx.get(port.busy):
        await ctx.tick()


# --- the scoreboard's rule in hardware ---------------------------------------------------

class _Decoder(Elaboratable):
    def __init__(self):
        self.word = Signal(WORD_BITS)

    def elaborate(self, platform):
        m = Module()
        self.is_unit, self.reads, self.writes = decode_resources(m, self.word, "dut")
        return m


def _random_instruction(rng):
    op = rng.choice([Op.LOAD, Op.STORE, Op.COMPUTE, Op.SYNC, Op.END, Op.NOP])
    if op == Op.LOAD:
        return encode(op, target=rng.choice(list(Target)), half=rng.randrange(2),
                      fence=rng.randrange(2), count=rng.randrange(9))
    if op == Op.STORE:
        return encode(op, half=rng.randrange(2), windows=1)
    if op == Op.COMPUTE:
        return encode(op, **{k: rng.randrange(2) for k in ("nbin_half", "sib_half", "sb_half",
                                                            "bias_half", "out_half")})
    return encode(op)


def test_hardware_scoreboard_decodes_the_golden_rule():
    dut = _Decoder()
    sim = Simulator(dut)
    rng = random.Random(3)

    async def bench(ctx):
        for _ in range(300):
            word = _random_instruction(rng)
            ctx.set(dut.word, word)
            op, f = decode(word)
            reads, writes = accesses(op, f)
            assert (ctx.get(dut.reads), ctx.get(dut.writes)) == (reads, writes), (op, f)
            assert [ctx.get(u) for u in dut.is_unit] == [int(UNIT.get(op) == u) for u in UNITS]
    sim.add_testbench(bench)
    sim.run()


# --- the controller: dispatch, conflicts, dual issue -----------------------------------

class _ControllerBench(Elaboratable):
    def __init__(self, cfg):
        self.cp = Controller(cfg)

    def elaborate(self, platform):
        m = Module()
        m.submodules.cp = self.cp
        return m


def _run_controller(program, durations, seed=0, then=()):
    """Run ``program`` (instruction words) on the controller with stub units busy
    ``durations[unit]`` cycles per instruction, then each program of ``then`` (from
    further addresses, each started once the one before is done); return the
    issues (cycle, unit, pc: the index in ``program`` and ``then`` joined) and the
    dual-issue count of the last run."""
    cfg = small_config(2, 2)
    dut = _ControllerBench(cfg)
    cp = dut.cp
    image = MemoryImage(cfg.mem_width)
    n = cfg.words["instruction"]
    runs = [program, *then]
    joined = [w for p in runs for w in p]
    for k, w in enumerate(joined):
        image.write(k * n, split_words(w, WORD_BITS, cfg.mem_width))
    program = joined
    issues, state = [], {"done": False}
    rng = random.Random(seed)

    def unit(name):
        port = getattr(cp, name)

        async def run(ctx):
            left, cycle = 0, 0
            ctx.set(port.instr.ready, 1)
            if name == "compute":
                ctx.set(port.older_busy, 0)
            while True:
                _, _, valid, word = await ctx.tick().sample(port.instr.valid, port.instr.payload)
                cycle += 1
                if left:
                    left -= 1
                elif valid:
                    issues.append((cycle, name, program.index(int(word))))
                    left = durations[name]
                ctx.set(port.busy, left > 0)
                ctx.set(port.instr.ready, left == 0)
        return run

    async def main(ctx):
        base = 0
        for run in runs:
            state["done"] = False
            ctx.set(cp.prog_addr, base * n)
            ctx.set(cp.prog_len, len(run))
            ctx.set(cp.start, 1)
            await ctx.tick()
            ctx.set(cp.start, 0)
            for _ in range(3000):
                await ctx.tick()
                if ctx.get(cp.done):
                    state["done"] = True
                    break
            if not state["done"]:
                return
            base += len(run)
        state["dual"] = ctx.get(cp.dual_issues)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(_serve_reads(cp.mem, image, rng, latency=1, p_stall=0), background=True)
    for name in UNITS:
        sim.add_testbench(unit(name), background=True)
    sim.add_testbench(main)
    sim.run()
    assert state["done"], "the program never reached END"
    return sorted(issues, key=lambda i: (i[0], i[2])), state["dual"]


def test_controller_waits_for_conflicts_and_dual_issues_independent_instructions():
    par = {"par": 1}
    program = [
        encode("LOAD", target="SB", half=0, count=4),                    # 0
        encode("COMPUTE", sb_half=0, nbin_half=0),                       # 1: RAW on SB0
        encode("LOAD", target="SB", half=1, count=4, **par),             # 2: beside 1
        encode("STORE", half=0, windows=1),                              # 3: WAR on NBOUT0
        encode("LOAD", target="NBIN", half=1, count=1, fence=1, **par),  # 4: reads MEM: waits for 3
        encode("END"),
    ]
    durations = {"load": 7, "store": 5, "compute": 11}
    issues, dual = _run_controller(program, durations)
    at = {pc: cycle for cycle, _, pc in issues}
    assert [pc for _, _, pc in issues] == [0, 1, 2, 3, 4]            # in order
    assert at[1] >= at[0] + durations["load"]                          # RAW: after the load
    assert at[2] == at[1] and dual == 1                                # dual issue
    assert at[3] >= at[1] + durations["compute"]                       # WAR: after the compute
    assert at[4] >= at[3] + durations["store"]                         # the fence


def test_controller_runs_short_programs_and_restarts_on_new_ones():
    # One- and two-instruction programs, each started after the one before is
    # done: every run issues its own instructions (the queue's prefetch of the
    # first words is taken afresh), in order, each once.
    durations = {"load": 2, "store": 3, "compute": 4}
    runs = [[encode("END")],
            [encode("LOAD", target="SB", half=0, count=1), encode("END")],
            [encode("STORE", half=1, windows=2), encode("END")],
            [encode("COMPUTE", sb_half=1, nbin_half=1), encode("LOAD", target="SB", half=0,
                                                                   count=3), encode("END")]]
    issues, _ = _run_controller(runs[0], durations, then=runs[1:])
    joined = [w for r in runs for w in r]
    assert [pc for _, _, pc in issues] == [pc for pc, w in enumerate(joined)
                                           if decode(w)[0] in UNIT]
    assert [u for _, u, _ in issues] == ["load", "store", "compute", "load"]


@pytest.mark.parametrize("seed", range(3))
def test_controller_never_issues_a_conflict(seed):
    rng = random.Random(seed)
    program = [_random_instruction(rng) for _ in range(40)]
    program = [w for w in program if decode(w)[0] not in (Op.END, Op.NOP)] + [encode("END")]
    program = [w | PAR_BIT * rng.randrange(2) if decode(w)[0] in UNIT else w for w in program]
    program = list(dict.fromkeys(program))          # distinct words: the stub finds each pc
    durations = {"load": rng.randrange(1, 8), "store": rng.randrange(1, 8),
                 "compute": rng.randrange(1, 8)}
    issues, _ = _run_controller(program, durations, seed)
    issued = [pc for _, _, pc in issues]
    assert issued == [pc for pc, w in enumerate(program) if decode(w)[0] in UNIT]
    busy = []                                      # (start, end, pc) of running instructions
    for cycle, unit, pc in issues:
        op, f = decode(program[pc])
        for start, end, other in busy:
            if start < cycle < end or (start == cycle and other != pc):
                o_op, o_f = decode(program[other])
                if UNIT[o_op] != unit:
                    assert not conflict(*accesses(op, f), *accesses(o_op, o_f)), (pc, other)
        busy.append((cycle, cycle + durations[unit] + 1, pc))
        same = [p for c, _, p in issues if c == cycle and p != pc]
        if same and same[0] < pc:                  # the second of a dual issue
            assert f["par"] and UNIT[decode(program[same[0]])[0]] != unit


# --- the load unit: buffer rows and SB/LUT writes -----------------------------------------

class _LoadBench(Elaboratable):
    def __init__(self, cfg):
        W = cfg.window
        self.unit = LoadUnit(cfg)
        self.nib = _memory(cfg, cfg.window_rows, unsigned(W))
        self.sib = _memory(cfg, cfg.sib_rows, unsigned(W))
        self.nbin = _memory(cfg, cfg.window_rows, unsigned(16 * W))
        self.bias = _memory(cfg, cfg.bias_rows, unsigned(32 * cfg.tn))

    def elaborate(self, platform):
        m = Module()
        u = m.submodules.unit = self.unit
        for name in ("nib", "sib", "nbin", "bias"):
            m.submodules[name] = mem = getattr(self, name)
            wiring.connect(m, getattr(u, f"{name}_w"), mem.write_port())
        rows = self.nib.read_port(domain="comb")
        m.d.comb += [rows.addr.eq(u.nib_rows.addr), u.nib_rows.data.eq(rows.data)]
        return m


@pytest.mark.parametrize("tn, tm, dense, bits, mem_width", [
    (2, 2, False, 4, None), (4, 4, False, 8, None), (2, 4, True, 16, None),
    (1, 2, False, 16, None), (4, 8, False, 4, 128)])   # (a LUT word of 2, 4 and 8 entries)
def test_load_unit_assembles_every_buffer_like_the_machine(tn, tm, dense, bits, mem_width):
    rng = np.random.default_rng(tn * 10 + tm)
    model = random_model(rng, [90, 20, 7], 0.5, bits)
    cfg = small_config(tn, tm, **({"mem_width": mem_width} if mem_width else {}))
    program = compile_model(model, cfg, random_inputs(rng, 90, vectors=2), dense=dense)
    loads = [w for w in program.words if decode(w)[0] == Op.LOAD]
    golden = Machine(cfg, program.image)
    dut = _LoadBench(cfg)
    u = dut.unit
    sb = [[0] * cfg.sb_words for _ in range(tn)]
    lut = np.zeros((2, tn, 256), dtype=np.int64)         # [table, PE]
    lanes = cfg.words["values_per_word"]

    async def writes(ctx):
        ctx.set(u.sb_write.ready, 1)
        ctx.set(u.lut_write.ready, 1)
        while True:
            _, _, sv, sp, lv, lp = await ctx.tick().sample(u.sb_write.valid, u.sb_write.payload,
                                                           u.lut_write.valid, u.lut_write.payload)
            if sv:
                sb[int(sp.pe)][int(sp.addr)] = int(sp.data)
            if lv:           # (a memory word's entries at once, those ``en`` names)
                pes = slice(None) if lp.broadcast else int(lp.pe)
                assert int(lp.addr) % lanes == 0
                for k in range(lanes):
                    if int(lp.en) >> k & 1:
                        lut[int(lp.half), pes, int(lp.addr) + k] = int(lp.value[k])

    def rows(ctx, mem, n):
        return [int(ctx.get(mem.data[r])) for r in range(n)]

    async def bench(ctx):
        for word in loads:
            await _issue(ctx, u.issue, word)
            golden.execute(*decode(word))
            W = cfg.window
            assert rows(ctx, dut.nib, cfg.window_rows) == \
                [sum(int(b) << p for p, b in enumerate(r)) for r in golden.nib]
            assert rows(ctx, dut.sib, cfg.sib_rows) == \
                [sum(int(b) << p for p, b in enumerate(r)) for r in golden.sib]
            got = [unpack_values(split_words(v, 16 * W, 16), 16, W)
                   for v in rows(ctx, dut.nbin, cfg.window_rows)]
            for r, row in enumerate(got):      # the values the NSM can select: popcount(NIB)
                n = W if dense else int(golden.nib[r].sum())
                np.testing.assert_array_equal(row[:n], golden.nbin[r, :n],
                                              err_msg=f"{decode(word)}: NBin row {r}")
            bias = rows(ctx, dut.bias, cfg.bias_rows)
            assert bias == [join_words([int(b) & 0xFFFFFFFF for b in r], 32) for r in golden.bias]
            assert sb == golden.sb
            np.testing.assert_array_equal(lut, golden.lut)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(_serve_reads(u.mem, program.image, random.Random(tn)), background=True)
    sim.add_testbench(writes, background=True)
    sim.add_testbench(bench)
    sim.run()


def _gather_memory(cfg, rng, records, empty=0.4):
    """A feature map's worth of windows in memory (bitmaps from 0, values at a fixed
    stride from 4096), a share ``empty`` of them empty; and its image."""
    W, w = cfg.window, cfg.words
    image = MemoryImage(cfg.mem_width)
    for r in range(records):
        bits = (rng.random(W) < rng.random()) & (rng.random() >= empty)
        vals = rng.integers(-300, 300, int(bits.sum()))
        image.write(r * w["bitmap"], split_words(sum(1 << p for p in np.flatnonzero(bits)),
                                                 W, cfg.mem_width))
        image.write(4096 + r * w["nbin"], pack_values(vals, cfg.mem_width))
    return image


def _gathers(cfg, rng, records, n):
    """``n`` random segmented LOAD pairs (NIBin, then NBin at the same rows)."""
    w = cfg.words
    out = []
    for _ in range(n):
        count = int(rng.integers(1, 4))
        segs = int(rng.integers(1, min(4, cfg.half(cfg.window_rows) // count) + 1))
        step = int(rng.integers(count, count + 4))
        first = int(rng.integers(0, records - (segs - 1) * step - count + 1))
        half, row = int(rng.integers(2)), int(rng.integers(0, cfg.half(cfg.window_rows)
                                                           - segs * count + 1))
        common = dict(half=half, row=row, count=count, segments=segs if segs > 1 else 0)
        out.append(encode("LOAD", target="NIB", mem_addr=first * w["bitmap"],
                          seg_step=step * w["bitmap"], **common))
        out.append(encode("LOAD", target="NBIN", mem_addr=4096 + first * w["nbin"],
                          seg_step=step * w["nbin"], **common))
    return out


@pytest.mark.parametrize("tn, tm, seed", [(2, 2, 0), (4, 4, 1), (1, 2, 2)])
def test_load_unit_gathers_segments_like_the_machine(tn, tm, seed):
    """Segmented LOADs (a 2-D gather: ``segments`` runs of ``count`` rows,
    ``seg_step`` words apart) fill NIBin and NBin like the golden machine's
    segment-by-segment rule, under random memory stalls, and without stalls
    take the performance model's cycles (empty windows among them)."""
    from types import SimpleNamespace

    from golden.perf.perfmodel import duration, work
    cfg = small_config(tn, tm)
    rng = np.random.default_rng(seed)
    image = _gather_memory(cfg, rng, 24)
    loads = _gathers(cfg, rng, 24, 6)
    replay = f"replay: tn={tn} tm={tm} seed={seed}"
    _run_loads(cfg, image, loads, random.Random(seed), Machine(cfg, image), replay)
    cycles = _run_loads(cfg, image, loads, random.Random(seed), None, replay)
    want = [duration(s, cfg) for s in work(SimpleNamespace(cfg=cfg, image=image, words=loads))]
    assert cycles == want, f"{replay}: RTL {cycles}, model {want}"


def _run_loads(cfg, image, loads, rng, golden, replay):
    """The load unit on ``loads``; returns each one's busy cycles.  With a ``golden``
    machine: random memory stalls, and NIBin/NBin checked against it after each
    LOAD (NBin after NBin loads: what the NSM may read, popcount(NIBin) values);
    without: a memory without stalls, the performance model's."""
    W = cfg.window
    dut = _LoadBench(cfg)
    u = dut.unit
    cycles = []

    async def bench(ctx):
        for word in loads:
            ctx.set(u.issue.instr.payload, word)
            ctx.set(u.issue.instr.valid, 1)
            await ctx.tick().until(u.issue.instr.ready)
            ctx.set(u.issue.instr.valid, 0)
            n = 0
            while True:
                await ctx.tick()
                n += 1
                if not ctx.get(u.issue.busy):
                    break
            cycles.append(n)
            if golden is None:
                continue
            golden.execute(*decode(word))
            nib = [int(ctx.get(dut.nib.data[r])) for r in range(cfg.window_rows)]
            assert nib == [sum(int(b) << p for p, b in enumerate(r)) for r in golden.nib]
            if decode(word)[1]["target"] != Target.NBIN:
                continue
            for r in range(cfg.window_rows):
                row = unpack_values(split_words(int(ctx.get(dut.nbin.data[r])), 16 * W, 16),
                                    16, W)
                n_r = int(golden.nib[r].sum())
                np.testing.assert_array_equal(row[:n_r], golden.nbin[r, :n_r],
                                              err_msg=f"{replay}, {decode(word)}: NBin row {r}")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(_serve_reads(u.mem, image, rng, latency=3 if golden else 4,
                                   p_stall=0.25 if golden else 0.0), background=True)
    sim.add_testbench(bench)
    sim.run()
    return cycles


def test_load_unit_takes_no_read_data_it_did_not_request():
    # The memory read switch hands the load unit the read data of the controller's
    # program fetch too, valid (hdl.control.bus.ReadSwitch: no switch on the load
    # unit's response path): idle, it must take none and write nothing.
    cfg = small_config(2, 2)
    dut = _LoadBench(cfg)
    u = dut.unit
    rng = np.random.default_rng(5)

    async def bench(ctx):
        ctx.set(u.mem.resp.valid, 1)
        for _ in range(24):
            ctx.set(u.mem.resp.payload.data, int(rng.integers(1 << cfg.mem_width)))
            await ctx.tick()
            assert not ctx.get(u.mem.resp.ready)
            assert not any(ctx.get(getattr(u, f"{n}_w").en) for n in ("nib", "sib", "nbin",
                                                                      "bias"))
            assert not ctx.get(u.sb_write.valid) and not ctx.get(u.lut_write.valid)
            assert not ctx.get(u.issue.busy)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


# --- the store unit: NBout through the Encoder to memory ----------------------------------

class _StoreBench(Elaboratable):
    def __init__(self, cfg, nbout_rows):
        self.unit = StoreUnit(cfg)
        self.nbout = _memory(cfg, cfg.nbout_rows, unsigned(16 * cfg.tn), nbout_rows)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.unit
        m.submodules.nbout = self.nbout
        wiring.connect(m, self.unit.nbout_r, self.nbout.read_port())
        return m


@pytest.mark.parametrize("tn, tm, dense, seed, row, vectors",
                         [(2, 2, False, 1, 0, 1), (4, 4, False, 2, 5, 2), (4, 2, True, 3, 2, 2),
                          (1, 2, False, 4, 0, 3), (2, 4, False, 5, 7, 1), (2, 4, False, 7, 0, 2),
                          (2, 2, True, 6, 0, 3)])
def test_store_unit_packs_like_the_machine(tn, tm, dense, seed, row, vectors):
    cfg = small_config(tn, tm)
    rng = np.random.default_rng(seed)
    values = rng.integers(-300, 300, size=(cfg.nbout_rows, tn))
    values[rng.random(values.shape) < 0.6] = 0
    values[1] = 0                                   # an all-zero row
    nbout = [join_words([int(v) & 0xFFFF for v in row], 16) for row in values]
    G = cfg.groups_per_window
    # (from NBout row ``row`` of the half: the rows before it are not stored)
    room = (cfg.half(cfg.nbout_rows) - row) // G       # windows from ``row`` to the half's end
    vectors = min(vectors, room)
    windows = min(3, room // vectors)
    step = windows * cfg.words["nbin"] + 3       # (a gap between the vectors' outputs)
    f = dict(half=1, dense=int(dense), mem_addr=500, bm_addr=0 if dense else 100,
             rows=windows * G - 1, windows=windows, row=row,    # each vector's last row: 0
             vectors=vectors, vec_step=step)
    golden = Machine(cfg, {})
    golden.nbout[:] = values
    golden.store(decode(encode("STORE", **f))[1])
    # A STORE of several vectors writes what a STORE per vector writes: vector v's
    # windows from NBout row ``row + v * windows * G``, ``v * vec_step`` words on.
    apart = Machine(cfg, {})
    apart.nbout[:] = values
    for v in range(vectors):
        one = {**f, "vectors": 1, "row": row + v * windows * G, "mem_addr": 500 + v * step,
               "bm_addr": f["bm_addr"] + v * step * (1 - dense)}
        apart.store(decode(encode("STORE", **one))[1])
    assert dict(apart.mem) == dict(golden.mem)
    # ``row`` only moves where the rows come from: the same rows moved to the
    # half's start, stored from row 0, write the same memory.
    half = cfg.half(cfg.nbout_rows)
    moved = Machine(cfg, {})
    moved.nbout[half:2 * half - row] = values[half + row:]
    moved.store(decode(encode("STORE", **{**f, "row": 0}))[1])
    assert dict(moved.mem) == dict(golden.mem) and golden.mem
    dut = _StoreBench(cfg, nbout)
    u = dut.unit
    written = {}
    wrng = random.Random(seed)

    async def memory(ctx):
        while True:
            ready = wrng.random() < 0.6
            ctx.set(u.mem_write.ready, ready)
            _, _, v, p = await ctx.tick().sample(u.mem_write.valid, u.mem_write.payload)
            if v and ready:
                written[int(p.addr)] = int(p.data)

    async def bench(ctx):
        await _issue(ctx, u.issue, encode("STORE", **f))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(memory, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert written == dict(golden.mem)


@pytest.mark.parametrize("tn, tm, seed", [(4, 4, 1), (4, 2, 2), (2, 2, 3), (8, 2, 4),
                                          (1, 2, 5)])
def test_store_unit_cycles_equal_the_models(tn, tm, seed):
    # A sparse STORE's busy cycles, window by window: whether the reader (a row
    # a cycle), the Encoder's two stages or the writer holds it up, the
    # performance model (perfmodel.store_cycles) follows the RTL exactly.
    from golden.perf.perfmodel import store_cycles
    cfg = small_config(tn, tm)
    G, W = cfg.groups_per_window, cfg.window
    rng = np.random.default_rng(seed)
    cases = [(0,), (W,), (3, 3, 3)] + [tuple(int(n) for n in rng.integers(0, W + 1, size=k))
                                        for k in (1, 2, 2, 3, 4, 4)]
    # (and STOREs whose rows end inside a window, or before the last window: the
    # reader reads no row past them)
    cases = [(nz, len(nz) * G, len(nz)) for nz in cases] + [
        ((5,), 3, 1), ((0, 0), G + 1, 2), ((7, 0), G - 2, 2),
        # several vectors in one STORE (``per_vector`` windows each, ``rows`` rows each)
        ((5, 0, 9), G - 1, 1), ((3, W, 0, 2), G + 2, 2), ((W, W, W), G, 1),
        tuple((tuple(int(n) for n in rng.integers(0, W + 1, size=4)), 2 * G - 3, 2))]
    for nz, rows, per_vector in cases:
        values = np.zeros((cfg.nbout_rows, tn), dtype=np.int64)
        for w, n in enumerate(nz):      # window w's first n values nonzero
            values.reshape(-1)[w * W:w * W + n] = rng.integers(1, 300, size=n)
        for w in range(len(nz)):         # (rows past a vector's: never read)
            for k in range(G):
                if w % per_vector * G + k >= rows:
                    values[w * G + k] = 0
        nz = [int(np.count_nonzero(values.reshape(-1)[w * W:(w + 1) * W]))
              for w in range(len(nz))]
        f = dict(half=0, dense=0, mem_addr=500, bm_addr=100, rows=rows, windows=per_vector,
                 vectors=len(nz) // per_vector, vec_step=60)
        want = store_cycles(nz, cfg, rows=rows, per_vector=per_vector)
        assert _store_busy(cfg, values, f) == want, \
            f"replay: tn={tn} tm={tm} seed={seed} nonzeros={nz} rows={rows} " \
            f"windows per vector={per_vector}"


def _store_busy(cfg, values, f):
    """Cycles the store unit is busy with ``STORE f`` of NBout rows ``values``
    (memory always ready)."""
    dut = _StoreBench(cfg, [join_words([int(v) for v in r], 16) for r in values])
    u = dut.unit
    busy = []

    async def bench(ctx):
        ctx.set(u.mem_write.ready, 1)
        ctx.set(u.issue.instr.payload, encode("STORE", **f))
        ctx.set(u.issue.instr.valid, 1)
        await ctx.tick().until(u.issue.instr.ready)
        ctx.set(u.issue.instr.valid, 0)
        while not busy or busy[-1]:
            await ctx.tick()
            busy.append(ctx.get(u.issue.busy))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return len(busy)


# --- the compute unit: which windows reach the slice ------------------------------------

class _ComputeBench(Elaboratable):
    def __init__(self, cfg, nib, sib, nbin, bias):
        W, tn = cfg.window, cfg.tn
        self.unit = ComputeUnit(cfg)
        self.mems = {"nib": _memory(cfg, cfg.window_rows, unsigned(W), nib),
                     "sib": _memory(cfg, cfg.sib_rows, unsigned(W), sib),
                     "nbin": _memory(cfg, cfg.window_rows, unsigned(16 * W), nbin),
                     "bias": _memory(cfg, cfg.bias_rows, unsigned(32 * tn), bias),
                     "nbout": _memory(cfg, cfg.nbout_rows, unsigned(16 * tn))}

    def elaborate(self, platform):
        m = Module()
        u = m.submodules.unit = self.unit
        for name, mem in self.mems.items():
            m.submodules[name] = mem
        mm = self.mems
        for port, mem in ((u.nib_r, "nib"), (u.sib_r, "sib"), (u.sibm_r, "sib"),
                          (u.nbin_r, "nbin"), (u.bias_r, "bias"), (u.nbout_r, "nbout")):
            wiring.connect(m, port, mm[mem].read_port())
        wiring.connect(m, u.nbout_w, mm["nbout"].write_port())
        return m


@pytest.mark.parametrize("skip", [True, False])
def test_compute_unit_feeds_the_windows_the_sib_names(skip):
    cfg = small_config(2, 2, nbin_bytes=2 * 40 * 64, nibin_bytes=2 * 40 * 4,
                       sib_bytes=2 * 64 * 4)
    W, windows, groups = cfg.window, 35, 3
    rng = np.random.default_rng(7 + skip)
    bitmaps = rng.random((groups, windows, W)) < 0.02
    bitmaps[1] = False                                  # a group without a synapse
    bitmaps[2, 33:] = False                             # an empty second segment
    nib = [int(w + 1) for w in range(windows)]          # window w's neuron bitmap: w + 1
    sib_rows, expected = [], []
    if skip:
        packed = [golden_sib.pack(b) for b in bitmaps]
        sib_rows = [row for m_, _ in packed for row in m_] + [row for _, r in packed for row in r]
        for g, (masks, _) in enumerate(packed):
            fed = golden_sib.fed_windows(masks, windows)
            expected += [(nib[w], bitmaps[g, w], k == len(fed) - 1) for k, w in enumerate(fed)]
    else:
        sib_rows = [row for b in bitmaps for row in b]
        expected = [(nib[w], bitmaps[g, w], w == windows - 1)
                    for g in range(groups) for w in range(windows)]
    sib = [sum(int(v) << p for p, v in enumerate(row)) for row in sib_rows]
    dut = _ComputeBench(cfg, nib, sib, [0] * cfg.window_rows, [0] * cfg.bias_rows)
    u = dut.unit
    fed, tiles = [], []
    rng_ready = random.Random(int(skip))

    async def slice_(ctx):
        ctx.set(u.front_idle, 1)
        ctx.set(u.neurons.ready, 1)
        ctx.set(u.tile.ready, 1)
        ctx.set(u.bias.ready, 1)
        pending = 0
        while True:
            ready = rng_ready.random() < 0.6
            ctx.set(u.window.ready, ready)
            ctx.set(u.outputs.valid, pending > 0)
            ctx.set(u.outputs.payload, [len(tiles)] * cfg.tn)
            _, _, v, p, ov = await ctx.tick().sample(u.window.valid, u.window.payload,
                                                     u.outputs.valid)
            if ov:
                pending -= 1
                tiles.append(1)
            if v and ready:
                fed.append((int(p.neuron_bitmap), int(p.synapse_bitmap), int(p.last)))
                pending += int(p.last)

    async def bench(ctx):
        await _issue(ctx, u.issue, encode("COMPUTE", windows=windows, groups=groups,
                                          skip=int(skip), out_row=2, slot=Slot.W16))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(slice_, background=True)
    sim.add_testbench(bench)
    sim.run()
    want = [(n, sum(int(v) << p for p, v in enumerate(b)), int(last)) for n, b, last in expected]
    assert fed == want
    assert len(tiles) == groups


def test_compute_unit_holds_its_first_window_until_the_front_is_idle():
    # An instruction reads its first window's rows while the instruction before
    # still fills the slice's front (the NSM and the sequencer), and hands it on
    # only the cycle after the front has been idle: each COMPUTE fills an empty
    # pipeline (the performance model's Timing.feed), its fill up to f1 hidden.
    cfg = small_config(2, 2)
    dut = _ComputeBench(cfg, [1] * cfg.window_rows, [0] * cfg.sib_rows,
                        [0] * cfg.window_rows, [0] * cfg.bias_rows)
    u = dut.unit
    seen, taken = [], []

    async def bench(ctx):
        for port in (u.window, u.neurons, u.tile, u.bias):
            ctx.set(port.ready, 1)
        ctx.set(u.issue.instr.payload, encode("COMPUTE", windows=2, groups=1, slot=Slot.W16))
        for cycle in range(30):
            ctx.set(u.front_idle, cycle >= 20)
            ctx.set(u.issue.instr.valid, not taken)
            if not taken and ctx.get(u.issue.instr.ready):
                taken.append(cycle)
            seen.append(ctx.get(u.window.valid))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # (taken while the front is busy; the window waits for it)
    assert taken and taken[0] < 5
    assert not any(seen[:21]) and seen[21:23] == [1, 1]


@pytest.mark.parametrize("width", [1, 3, 4, 7, 16, 32, 64])
def test_popcount_counts_the_set_bits(width):
    """The popcount the units share (nibbles counted in logic, then added):
    every value for narrow inputs, random ones (and all-ones) for wide."""
    from hdl.control.dma import popcount
    m = Module()
    value = Signal(width)
    out = popcount(m, value, "count")
    assert len(out) == width.bit_length()
    rng = random.Random(width)
    values = range(1 << width) if width <= 7 else \
        [0, (1 << width) - 1] + [rng.getrandbits(width) for _ in range(300)]
    sim = Simulator(m)

    async def bench(ctx):
        for v in values:
            ctx.set(value, v)
            assert ctx.get(out) == bin(v).count("1"), f"width {width}, value {v:#x}"

    sim.add_testbench(bench)
    sim.run()
