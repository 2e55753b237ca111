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
The compute unit takes its next COMPUTE as soon as the previous one has handed
its first window to the slice (its issue port is ``ready``; the next one waits
in the unit until the previous has fed its last window): the previous one still
feeds or drains through the NSM, the H-tree and the PEs, and its resources stay
reserved (a second scoreboard entry) while ``compute.older_busy``.  Every rule
is :func:`golden.contract.isa.accesses`.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.contract.isa import UNIT, Resource, accesses, conflict
from hdl.control import bus
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


class Controller(wiring.Component):
    """Fetch + dispatch.

    Members
    -------
    start, prog_addr, prog_len : In
        A one-cycle ``start`` fetches ``prog_len`` instructions from word
        ``prog_addr`` into the instruction buffer, then runs them.
    done, running, fetching : Out
        ``done`` from ``END`` until the next ``start``.
    mem : ``Out(bus.mem_read(mem_width))``
        The program fetch (used only while ``fetching``).
    load, store, compute : ``Out(bus.issue())``
        Per unit its instructions and its ``busy``.  An instruction issues when
        the head of the queue is the unit's, conflicts with nothing and the unit
        is ready (a second one in the same cycle when ``par``); ``instr.valid``
        holds it the cycle after (a register, the issue register; the unit,
        ready in the issue cycle, is still ready), and from that cycle the
        unit counts as busy.  The compute unit takes its next instruction while
        the previous one drains, whose resources stay reserved while
        ``compute.older_busy``.  Compact configurations (small parts) have no
        issue register: ``instr`` is offered in the issue cycle and taken then
        (every unit starts a cycle earlier; ``golden.perf.perfmodel.Timing.dispatch``).
    issued, dual_issues : Out
        Instructions issued this cycle (0..2); cycles that issued two.
    fired, unit_busy, compute_older : Out
        Per unit (load, store, compute): an instruction issued to it this cycle;
        it is busy (from the cycle after the issue: the issue register's cycle
        counts); an older COMPUTE still drains behind the compute unit's newest.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "start": In(1), "prog_addr": In(32), "prog_len": In(16),
            "done": Out(1), "running": Out(1), "fetching": Out(1),
            "mem": Out(bus.mem_read(cfg.mem_width)),
            "load": Out(bus.issue()), "store": Out(bus.issue()),
            "compute": Out(bus.issue(drains=True)),
            "issued": Out(2), "dual_issues": Out(32),
            "unit_busy": Out(3), "compute_older": Out(1), "fired": Out(3),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ib = ib = Memory(shape=WORD_BITS, depth=self._cfg.ib_depth, init=[])
        # (compact: the fetch writes each memory word of an instruction straight
        # into its part of the IB row, see _fetch)
        parts = WORD_BITS // self._cfg.mem_width
        first_words = self._fetch(m, ib.write_port(granularity=self._cfg.mem_width)
                                  if self._cfg.compact and parts > 1 else ib.write_port())
        queue_of = self._queue_compact if self._cfg.compact else self._queue
        queue, decoded, count, pops, ring = queue_of(m, ib.read_port(), first_words)
        self._dispatch(m, queue, decoded, count, pops, ring)
        return m

    def _fetch(self, m, ib_w):
        """``prog_len`` instructions from ``prog_addr`` into the IB, then run.  Returns
        the program's first two words, registers (the queue's prefetch starts
        from them)."""
        mw = self._cfg.mem_width
        per_instr = WORD_BITS // mw
        req_count = Signal(32)
        rsp_count = Signal(32)
        total = Signal(32)
        assemble = Signal(WORD_BITS, reset_less=True)
        first_words = [Signal(WORD_BITS, name=f"first_word{k}", reset_less=True)
                       for k in range(2)]
        # A complete word is written to the IB (and the first two kept) the cycle
        # after its last part arrived, from ``assemble`` (ECP5 timing: no block
        # RAM read data and word multiplexer before the IB's write port).
        # Compact: each part as it arrives, into its part of the IB row and of
        # the first two words (no ``assemble``; the IB row and the first words
        # are complete a cycle sooner, before the run reads them either way).
        compact = self._cfg.compact
        if not compact:
            ib_pend = Signal()
            ib_index = Signal(range(self._cfg.ib_depth))
            m.d.sync += ib_pend.eq(0)
            m.d.comb += [ib_w.addr.eq(ib_index), ib_w.data.eq(assemble), ib_w.en.eq(ib_pend)]
            for k in range(2):
                with m.If(ib_pend & (ib_index == k)):
                    m.d.sync += first_words[k].eq(assemble)

        def restart():
            m.d.sync += [req_count.eq(0), rsp_count.eq(0),
                         total.eq(self.prog_len * per_instr), self.done.eq(0)]
            m.next = "FETCH"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    restart()
            with m.State("FETCH"):
                req, resp = self.mem.req, self.mem.resp
                m.d.comb += [
                    self.fetching.eq(1),
                    req.valid.eq(req_count < total),
                    req.payload.addr.eq(self.prog_addr + req_count),
                    resp.ready.eq(1),
                ]
                with m.If(req.valid & req.ready):
                    m.d.sync += req_count.eq(req_count + 1)
                if compact:
                    with m.If(resp.valid):
                        word_sel = rsp_count[:max(1, (per_instr - 1).bit_length())] \
                            if per_instr > 1 else Const(0)
                        index = rsp_count // per_instr
                        data = resp.payload.data
                        m.d.comb += [ib_w.addr.eq(index), ib_w.data.eq(data.replicate(per_instr)),
                                     ib_w.en.eq(Cat(*(word_sel == k for k in range(per_instr))))]
                        m.d.sync += rsp_count.eq(rsp_count + 1)
                else:
                    with m.If(resp.valid):
                        word_sel = rsp_count[:max(1, (per_instr - 1).bit_length())] \
                            if per_instr > 1 else Const(0)
                        new = Signal(WORD_BITS)
                        m.d.comb += new.eq(assemble)
                        for k in range(per_instr):
                            with m.If(word_sel == k):
                                m.d.comb += new[k * mw:(k + 1) * mw].eq(resp.payload.data)
                        m.d.sync += [assemble.eq(new), rsp_count.eq(rsp_count + 1)]
                        with m.If(word_sel == per_instr - 1):
                            m.d.sync += [ib_pend.eq(1), ib_index.eq(rsp_count // per_instr)]
                with m.If((rsp_count == total) & (total != 0)):
                    m.next = "RUN"
                with m.Elif(total == 0):
                    m.next = "DONE"
            with m.State("RUN"):
                m.d.comb += self.running.eq(1)
                with m.If(self.done):
                    # (a start in the first cycle ``done`` shows is taken too)
                    with m.If(self.start):
                        restart()
                    with m.Else():
                        m.next = "DONE"
            with m.State("DONE"):
                with m.If(self.start):
                    restart()
        with m.If(self.start):
            m.d.sync += self.done.eq(0)
        return first_words

    def _queue_compact(self, m, ib_r, first_words):
        """:meth:`_queue` for small parts, the same cycles without the prefetch
        registers: the IB is read at the next word to push (``ptr``, words pushed,
        plus this cycle's push), so its read data are that word, pushed into a
        slot and decoded as it goes (``first_words``: unused)."""
        slots = [Signal(WORD_BITS, name=f"slot{k}", reset_less=True) for k in range(2)]
        n_unit, n_reads, n_writes = decode_resources(m, ib_r.data, "incoming")
        incoming = Signal(3 + 2 * len(Resource), name="incoming_decoded")
        m.d.comb += incoming.eq(Cat(*n_unit, n_reads, n_writes))
        slots_d = [Signal(len(incoming), name=f"slot{k}_decoded") for k in range(2)]
        head = Signal()
        count = Signal(2)
        left = Signal(16)
        more = Signal()
        ptr = Signal(range(self._cfg.ib_depth + 1))
        primed = Signal()         # the IB's read data are the word at ``ptr``
        pops = Signal(2)
        push = Signal()
        m.d.comb += [push.eq(self.running & primed & ~count[1] & more),
                     ib_r.addr.eq(ptr + push), ib_r.en.eq(1)]
        tail = (head + count)[0]
        with m.If(self.start):
            m.d.sync += [left.eq(self.prog_len), more.eq(self.prog_len != 0), ptr.eq(0),
                         primed.eq(0), count.eq(0), head.eq(0)]
        with m.Else():
            m.d.sync += primed.eq(self.running)
            with m.If(push):
                m.d.sync += [left.eq(left - 1), more.eq(left != 1), ptr.eq(ptr + 1)]
            for k in range(2):
                with m.If(push & (tail == k)):
                    m.d.sync += [slots[k].eq(ib_r.data), slots_d[k].eq(incoming)]
            m.d.sync += [head.eq(head ^ pops[0]), count.eq(count - pops + push)]
        return _queue_views(m, slots, slots_d, head, tail, push, incoming, count, pops)

    def _queue(self, m, ib_r, first_words):
        """The instruction queue: two entries read from the IB, ``pops`` of them taken
        each cycle by the dispatch.  Returns ``(entries, decoded, count, pops, ring)``,
        ``ring`` the slots' pointers, push and decoded resources for the dispatch's
        conflict registers.

        A ring of two slots and a head pointer: a word is pushed at the tail
        (head + count) whenever fewer than two are held after the cycle before's
        pops (``count``, a register), and the dispatch's pops move the head
        pointer only, so its issue logic enables no wide register (ECP5 timing).

        The words to push wait in two prefetch registers, the next (``next0``,
        decoded too) and the one after (``next1``): the program's first two as
        the fetch writes them, then each push moves ``next1`` on and takes the
        IB's word two after the one pushed (the IB is read every cycle at
        ``ptr2 + push``, ``ptr2`` two past the words pushed, a register).  So the
        word pushed and its decoded resources are registers: no IB read (a
        DP16KD, slow from clock to data), decode or fetch pointer waits on this
        cycle's pops, and the dispatch's
        conflict bits (see :meth:`_dispatch`) are found from registers.  (The
        same cycles as reading the IB a cycle ahead whenever fewer than two are
        held or coming after this cycle's pops: the first push is the second
        cycle of the run.)"""
        next0, next1 = first_words
        next0_d = Signal(3 + 2 * len(Resource), name="next0_decoded")
        n_unit, n_reads, n_writes = decode_resources(m, next1, "next1")
        n0_unit, n0_reads, n0_writes = decode_resources(m, next0, "next0")
        slots = [Signal(WORD_BITS, name=f"slot{k}", reset_less=True) for k in range(2)]
        slots_d = [Signal(len(next0_d), name=f"slot{k}_decoded") for k in range(2)]
        head = Signal()
        count = Signal(2)
        # (words left to push, and whether any is: registers, so that ``push``,
        # which enables the slots' and prefetch registers, is a few gates on
        # registers; ECP5 timing)
        left = Signal(16)
        more = Signal()
        ptr2 = Signal(range(self._cfg.ib_depth + 3), init=2)     # words pushed + 2
        primed = Signal()         # ``next0_decoded`` is next0's
        pops = Signal(2)
        push = Signal()
        m.d.comb += [push.eq(self.running & primed & ~count[1] & more),
                     ib_r.addr.eq(Mux(push, ptr2 + 1, ptr2)), ib_r.en.eq(1)]
        tail = (head + count)[0]
        with m.If(self.start):
            m.d.sync += [left.eq(self.prog_len), more.eq(self.prog_len != 0), ptr2.eq(2),
                         primed.eq(0), count.eq(0), head.eq(0)]
        with m.Else():
            m.d.sync += primed.eq(self.running)
            with m.If(~primed):
                m.d.sync += next0_d.eq(Cat(*n0_unit, n0_reads, n0_writes))
            with m.If(push):
                m.d.sync += [left.eq(left - 1), more.eq(left != 1), ptr2.eq(ptr2 + 1),
                             next0.eq(next1), next0_d.eq(Cat(*n_unit, n_reads, n_writes)),
                             next1.eq(ib_r.data)]
            for k in range(2):
                with m.If(push & (tail == k)):
                    m.d.sync += [slots[k].eq(next0), slots_d[k].eq(next0_d)]
            m.d.sync += [head.eq(head ^ pops[0]), count.eq(count - pops + push)]
        incoming = next0_d
        return _queue_views(m, slots, slots_d, head, tail, push, incoming, count, pops)

    def _dispatch(self, m, q, qd, count, pops, ring):
        """In-order issue to the units' ports, the scoreboard, dual issue, ``END``.

        The hazard check reads registers only: beside each queue slot its conflict
        with each unit's current instruction and with the draining compute
        instruction, and the two slots' conflict with each other, each found as
        a word arrives (against the instructions as they will stand after this
        cycle's issue) and kept as instructions issue (a unit's new instruction is
        the other slot's, whose conflict with this one is known).  ECP5 timing:
        no resource comparison between the queue and the issue ports."""
        # Per unit an offer when the queue's head is the unit's and conflicts with
        # nothing (or the second is, marked ``par``, to another unit, and the head
        # issues now), issued (``fire``) when the unit is ready.
        ports = [getattr(self, u) for u in UNITS]
        ci = UNITS.index("compute")
        # The issue register: an instruction chosen in a cycle reaches its unit's
        # port the cycle after (``pending``, and its word), and the unit counts as
        # busy from then on.  ECP5 timing: the issue decision (the hazard check,
        # the dual issue) ends in this block's flip-flops, not in the units'
        # across the chip (at Tn = Tm = 4, controller -> store.busy, 10.9 ns).
        # (compact: none; the port offers the queue's word in the issue cycle)
        registered = not self._cfg.compact
        pending = [Signal(name=f"{u}_pending") if registered else Const(0)
                   for u in UNITS]
        words = [Signal(WORD_BITS, name=f"{u}_word", reset_less=True) for u in UNITS]
        busy = [ports[i].busy | pending[i] for i in range(3)]
        older_busy = self.compute.older_busy | (pending[ci] & self.compute.busy)
        free = [ports[i].instr.ready & ~pending[i] for i in range(3)]
        nr = len(Resource)

        def split(decoded, name):
            unit = [Signal(name=f"{name}_is_{u}") for u in UNITS]
            reads, writes = Signal(nr, name=f"{name}_reads"), Signal(nr, name=f"{name}_writes")
            m.d.comb += [Cat(*unit, reads, writes).eq(decoded)]
            return unit, reads, writes
        h_unit, h_reads, h_writes = split(qd[0], "head")
        s_unit, s_reads, s_writes = split(qd[1], "second")
        # Each unit's instruction's resources (and those of the compute instruction
        # draining before the current one), registered as they issue.
        cur_res = [(None, Signal(nr, name=f"cur_{u}_reads"), Signal(nr, name=f"cur_{u}_writes"))
                   for u in UNITS]
        drain_res = (None, Signal(nr, name="drain_reads"), Signal(nr, name="drain_writes"))

        offer = [Signal(name=f"{u}_offer") for u in UNITS]
        fire = [offer[i] & free[i] for i in range(3)]
        # cflt[k][i]: slot k conflicts with unit i's instruction; cflt_drain[k]: with
        # the draining compute instruction; cflt_slots: the slots with each other.
        cflt = [[Signal(name=f"slot{k}_conflicts_{u}") for u in UNITS] for k in range(2)]
        cflt_drain = [Signal(name=f"slot{k}_conflicts_drain") for k in range(2)]
        cflt_slots = Signal()
        _, in_reads, in_writes = split(ring["incoming"], "incoming_res")
        slot_res = [split(ring["slots"][k], f"slot{k}_res") for k in range(2)]
        for k in range(2):
            # (a word arrives only in an empty slot while the other holds at most
            # the head: whatever issues this cycle is the other slot's)
            _, o_reads, o_writes = slot_res[1 - k]
            with_other = conflict(in_reads, in_writes, o_reads, o_writes)
            with m.If(ring["push"] & (ring["tail"] == k)):
                m.d.sync += cflt_slots.eq(with_other)
                for i in range(3):
                    _, r2, w2 = cur_res[i]
                    m.d.sync += cflt[k][i].eq(Mux(fire[i], with_other,
                                                  conflict(in_reads, in_writes, r2, w2)))
                _, cr, cw = cur_res[ci]
                _, dr, dw = drain_res
                m.d.sync += cflt_drain[k].eq(Mux(fire[ci], conflict(in_reads, in_writes, cr, cw),
                                                 conflict(in_reads, in_writes, dr, dw)))
            with m.Else():
                # (an instruction issued from this slot leaves it: its entries
                # no longer matter until the next word arrives)
                for i in range(3):
                    with m.If(fire[i]):
                        m.d.sync += cflt[k][i].eq(cflt_slots)
                with m.If(fire[ci]):
                    m.d.sync += cflt_drain[k].eq(cflt[k][ci])

        def hazard(unit, k):
            """Slot ``k`` (0 or 1, a value) conflicts with a busy unit's instruction."""
            terms = [busy[i] & ~unit[i] & Mux(k, cflt[1][i], cflt[0][i]) for i in range(3)]
            terms.append(older_busy & ~unit[ci] &
                         Mux(k, cflt_drain[1], cflt_drain[0]))
            return Cat(*terms).any()

        all_idle = ~Cat(*busy).any()
        h_op = view(Op.NOP, q[0]).op
        is_io = Cat(*h_unit).any()
        head_ok = Signal()
        m.d.comb += head_ok.eq(self.running & (count >= 1) & ~hazard(h_unit, ring["head"]))
        h_free = Cat(*[h_unit[i] & free[i] for i in range(3)]).any()
        issue0 = Signal()
        m.d.comb += issue0.eq(self.running & (count >= 1) & Mux(
            is_io, h_free & head_ok, Mux(h_op == Op.NOP, 1, all_idle)))
        second_ok = Signal()
        m.d.comb += second_ok.eq(issue0 & is_io & (count == 2) & view(Op.NOP, q[1]).par &
                                 ~hazard(s_unit, ~ring["head"]) & ~cflt_slots)
        h_offer = [head_ok & h_unit[i] for i in range(3)]
        s_offer = [second_ok & s_unit[i] & ~h_unit[i] for i in range(3)]
        issue1 = Cat(*[s_offer[i] & free[i] for i in range(3)]).any()
        m.d.comb += [pops.eq(issue0 + issue1), self.issued.eq(issue0 + issue1)]
        # (counted the cycle after, from a register: the issue logic enables one
        # flip-flop, not the counter's 32; ECP5 timing.  The last dual issue is
        # at least a cycle before END's, so the count is complete at ``done``.)
        dual = Signal()
        m.d.sync += dual.eq(issue1)
        with m.If(dual):
            m.d.sync += self.dual_issues.eq(self.dual_issues + 1)
        with m.If(self.start):
            m.d.sync += [self.dual_issues.eq(0), dual.eq(0)]
        with m.If(issue0 & (h_op == Op.END)):
            m.d.sync += self.done.eq(1)
        m.d.comb += [self.fired.eq(Cat(*fire)), self.unit_busy.eq(Cat(*busy)),
                     self.compute_older.eq(older_busy)]
        for i, u in enumerate(UNITS):
            instr = ports[i].instr
            # (the word by the head's unit alone: when the unit is offered one, the
            # head is offered to it exactly when it is the head's unit; it follows
            # the offer except while pending, so the unit sees the word issued)
            m.d.comb += [offer[i].eq(h_offer[i] | s_offer[i]),
                         instr.valid.eq(pending[i] if registered else offer[i]),
                         instr.payload.eq(words[i])]
            if registered:
                m.d.sync += pending[i].eq(fire[i])
                with m.If(~pending[i]):
                    m.d.sync += words[i].eq(Mux(h_unit[i], q[0], q[1]))
            else:
                # (the slot straight: the head's when it is the unit's, the other's
                # otherwise; one multiplexer, not the queue's two and this one)
                slots = ring["words"]
                m.d.comb += words[i].eq(Mux(ring["head"] ^ ~h_unit[i], slots[1], slots[0]))
            with m.If(fire[i]):
                m.d.sync += [cur_res[i][1].eq(Mux(h_unit[i], h_reads, s_reads)),
                             cur_res[i][2].eq(Mux(h_unit[i], h_writes, s_writes))]
                if u == "compute":
                    m.d.sync += [drain_res[1].eq(cur_res[i][1]), drain_res[2].eq(cur_res[i][2])]


def _queue_views(m, slots, slots_d, head, tail, push, incoming, count, pops):
    """The queue's entries in order (head first), words and decoded resources, and
    what the dispatch needs of the ring: ``(entries, decoded, count, pops, ring)``."""
    q = [Signal(WORD_BITS, name=f"q{k}") for k in range(2)]
    qd = [Signal(len(incoming), name=f"q{k}_decoded") for k in range(2)]
    m.d.comb += [q[0].eq(Mux(head, slots[1], slots[0])), q[1].eq(Mux(head, slots[0], slots[1])),
                 qd[0].eq(Mux(head, slots_d[1], slots_d[0])),
                 qd[1].eq(Mux(head, slots_d[0], slots_d[1]))]
    ring = {"head": head, "tail": tail, "push": push, "incoming": incoming, "slots": slots_d,
            "words": slots}
    return q, qd, count, pops, ring
