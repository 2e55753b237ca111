"""The control processor (CP, thesis §4.2.3, docs/architecture.md §3): program fetch into the
instruction buffer (IB), in-order dispatch to three units (load, store,
compute), multi-issue, and a scoreboard on the buffers' ping-pong halves.

Dispatch.  A two-entry queue holds the next instructions read from the IB.  The
head issues when its unit is idle and it conflicts with no busy unit's current
instruction; in the same cycle the second issues too if the compiler marked it
``par``, it goes to another unit, and it conflicts neither with the busy units
nor with the head.  ``SYNC`` waits until every unit is idle; ``END`` likewise,
then raises ``done``.

Scoreboard.  Each instruction reads and writes a set of resources: the halves
NBIN0/1 (with NIBin), SIB0/1, SB0/1, BIAS0/1, NBOUT0/1, the LUTs, and MEM (what
STOREs write and fenced LOADs read).  An instruction conflicts with a busy
unit's instruction when it writes what that one reads or writes, or reads what
that one writes (RAW, WAR, WAW), so a load into one half runs beside a compute
on the other, and a store of one NBout half beside a compute into the other.
The compute unit takes its next COMPUTE as soon as the previous one has fed
its last window and its NSM and sequencer have run empty (``compute_ready``):
the previous one's last steps still drain through the H-tree and the PEs, and
its resources stay reserved (a second scoreboard entry) until
``compute_older_busy`` falls.
"""

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory

from golden.contract.isa import UNIT, Resource, accesses, conflict

from hdl.control.dma import add_read_channel
from hdl.control.isa import WORD_BITS, Op, view

__all__ = ["Controller", "UNITS", "decode_resources"]

UNITS = ("load", "store", "compute")
_UNIT_OPS = [op for unit in UNITS for op, u in UNIT.items() if u == unit]


def decode_resources(m, word, name):
    """Signals ``(is_unit[3], reads, writes)`` of an instruction word, by the rule of
    :func:`golden.contract.isa.accesses` (one definition for the compiler, the performance
    model and this scoreboard)."""
    head = view(Op.NOP, word)
    is_unit = [Signal(name=f"{name}_is_{u}") for u in UNITS]
    reads = Signal(len(Resource), name=f"{name}_reads")
    writes = Signal(len(Resource), name=f"{name}_writes")
    m.d.comb += [flag.eq(head.op == op) for flag, op in zip(is_unit, _UNIT_OPS)]
    with m.Switch(head.op):
        for op in _UNIT_OPS:
            with m.Case(op):
                r, w = accesses(op, view(op, word), Mux)
                m.d.comb += [reads.eq(r), writes.eq(w)]
    return is_unit, reads, writes


class Controller(Elaboratable):
    """Fetch + dispatch.

    Ports (plain signals): ``start``/``prog_addr``/``prog_len`` (instructions) in,
    ``done``/``running`` out; the fetch read channel ``rreq_valid``/``rreq_ready``/
    ``rreq_addr`` and ``rdata_valid``/``rdata_ready``/``rdata``, used only while
    fetching; per unit ``<unit>_start`` (a pulse), ``<unit>_instr`` and, in,
    ``<unit>_busy``.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        mw = cfg.mem_width
        self.start = Signal()
        self.prog_addr = Signal(32)
        self.prog_len = Signal(16)
        self.done = Signal()
        self.running = Signal()
        self.fetching = Signal()
        add_read_channel(self, mw)
        for u in UNITS:
            setattr(self, f"{u}_start", Signal(name=f"{u}_start"))
            setattr(self, f"{u}_instr", Signal(WORD_BITS, name=f"{u}_instr"))
            setattr(self, f"{u}_busy", Signal(name=f"{u}_busy"))
        # The compute unit takes its next instruction while the previous one
        # drains (``compute_ready``); the draining one's resources stay reserved
        # while ``compute_older_busy``.
        self.compute_ready = Signal()
        self.compute_older_busy = Signal()
        self.issued = Signal(2)        # instructions issued this cycle (0..2)
        self.dual_issues = Signal(32)  # cycles that issued two

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        mw = cfg.mem_width
        per_instr = WORD_BITS // mw
        m.submodules.ib = ib = Memory(shape=WORD_BITS, depth=cfg.ib_depth, init=[])
        ib_w = ib.write_port()
        ib_r = ib.read_port()

        # --- fetch: prog_len instructions from prog_addr into the IB ----------------
        req_count = Signal(32)
        rsp_count = Signal(32)
        total = Signal(32)
        assemble = Signal(WORD_BITS)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [req_count.eq(0), rsp_count.eq(0),
                                 total.eq(self.prog_len * per_instr), self.done.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += [
                    self.fetching.eq(1),
                    self.rreq_valid.eq(req_count < total),
                    self.rreq_addr.eq(self.prog_addr + req_count),
                    self.rdata_ready.eq(1),
                ]
                with m.If(self.rreq_valid & self.rreq_ready):
                    m.d.sync += req_count.eq(req_count + 1)
                with m.If(self.rdata_valid):
                    word_sel = rsp_count[:max(1, (per_instr - 1).bit_length())] \
                        if per_instr > 1 else Const(0)
                    new = Signal(WORD_BITS)
                    m.d.comb += new.eq(assemble)
                    for k in range(per_instr):
                        with m.If(word_sel == k):
                            m.d.comb += new[k * mw:(k + 1) * mw].eq(self.rdata)
                    m.d.sync += [assemble.eq(new), rsp_count.eq(rsp_count + 1)]
                    with m.If(word_sel == per_instr - 1):
                        m.d.comb += [ib_w.addr.eq(rsp_count // per_instr), ib_w.data.eq(new),
                                     ib_w.en.eq(1)]
                with m.If((rsp_count == total) & (total != 0)):
                    m.next = "RUN"
                with m.Elif(total == 0):
                    m.next = "DONE"
            with m.State("RUN"):
                m.d.comb += self.running.eq(1)
                with m.If(self.done):
                    m.next = "DONE"
            with m.State("DONE"):
                with m.If(self.start):
                    m.d.sync += [req_count.eq(0), rsp_count.eq(0),
                                 total.eq(self.prog_len * per_instr), self.done.eq(0)]
                    m.next = "FETCH"
        with m.If(self.start):
            m.d.sync += self.done.eq(0)

        # --- the instruction queue: two entries read from the IB ---------------------
        q = [Signal(WORD_BITS, name=f"q{k}") for k in range(2)]
        count = Signal(2)
        fetch_ptr = Signal(range(cfg.ib_depth + 1))
        inflight = Signal()
        pops = Signal(2)
        push = inflight  # the IB read issued last cycle arrives now
        can_read = self.running & (count + inflight - pops < 2) & (fetch_ptr < self.prog_len)
        m.d.comb += [ib_r.addr.eq(fetch_ptr), ib_r.en.eq(1)]
        with m.If(self.start):
            m.d.sync += [fetch_ptr.eq(0), inflight.eq(0), count.eq(0)]
        with m.Else():
            m.d.sync += inflight.eq(can_read)
            with m.If(can_read):
                m.d.sync += fetch_ptr.eq(fetch_ptr + 1)
            # queue update: drop `pops` from the front, append the arriving word
            kept = [Mux(pops == 0, q[0], Mux(pops == 1, q[1], 0)), Mux(pops == 0, q[1], 0)]
            left = count - pops
            with m.If(push):
                with m.If(left == 0):
                    m.d.sync += q[0].eq(ib_r.data)
                with m.Else():
                    m.d.sync += [q[0].eq(kept[0]), q[1].eq(ib_r.data)]
                m.d.sync += count.eq(left + 1)
            with m.Else():
                m.d.sync += [q[0].eq(kept[0]), q[1].eq(kept[1]), count.eq(left)]

        # --- dispatch ----------------------------------------------------------------------
        busy = [getattr(self, f"{u}_busy") for u in UNITS]
        ci = UNITS.index("compute")
        free = [~b for b in busy]
        free[ci] = self.compute_ready
        cur = [Signal(WORD_BITS, name=f"{u}_cur") for u in UNITS]  # each unit's instruction
        cur_res = [decode_resources(m, cur[i], f"cur_{u}") for i, u in enumerate(UNITS)]
        drain = Signal(WORD_BITS)      # the compute instruction before cur[compute]
        drain_res = decode_resources(m, drain, "drain")
        h_unit, h_reads, h_writes = decode_resources(m, q[0], "head")
        s_unit, s_reads, s_writes = decode_resources(m, q[1], "second")

        def hazard(unit, reads, writes):
            terms = []
            for i in range(3):
                _, r2, w2 = cur_res[i]
                terms.append(busy[i] & ~unit[i] & conflict(reads, writes, r2, w2))
            _, r2, w2 = drain_res
            terms.append(self.compute_older_busy & ~unit[ci] & conflict(reads, writes, r2, w2))
            return Cat(*terms).any()

        all_idle = ~Cat(*busy).any()
        h_op = view(Op.NOP, q[0]).op
        is_io = Cat(*h_unit).any()
        h_free = Cat(*[h_unit[i] & free[i] for i in range(3)]).any()
        issue0 = Signal()
        issue1 = Signal()
        m.d.comb += issue0.eq(self.running & (count >= 1) & Mux(
            is_io, h_free & ~hazard(h_unit, h_reads, h_writes),
            Mux(h_op == Op.NOP, 1, all_idle)))
        s_free = Cat(*[s_unit[i] & free[i] & ~h_unit[i] for i in range(3)]).any()
        m.d.comb += issue1.eq(issue0 & is_io & (count == 2) & view(Op.NOP, q[1]).par & s_free &
                              ~hazard(s_unit, s_reads, s_writes) &
                              ~conflict(s_reads, s_writes, h_reads, h_writes))
        m.d.comb += [pops.eq(issue0 + issue1), self.issued.eq(issue0 + issue1)]
        with m.If(issue1):
            m.d.sync += self.dual_issues.eq(self.dual_issues + 1)
        with m.If(self.start):
            m.d.sync += self.dual_issues.eq(0)
        with m.If(issue0 & (h_op == Op.END)):
            m.d.sync += self.done.eq(1)
        for i, u in enumerate(UNITS):
            go_h = issue0 & h_unit[i]
            go_s = issue1 & s_unit[i]
            m.d.comb += [getattr(self, f"{u}_start").eq(go_h | go_s),
                         getattr(self, f"{u}_instr").eq(Mux(go_h, q[0], q[1]))]
            with m.If(go_h | go_s):
                m.d.sync += cur[i].eq(Mux(go_h, q[0], q[1]))
                if u == "compute":
                    m.d.sync += drain.eq(cur[i])
        return m
