"""The compute unit: runs ``COMPUTE`` tiles on the sparse datapath slice.

For each output group of the tile and each of its NSM windows that holds a
synapse (with ``skip`` the group's SIB mask rows name them, :mod:`golden.contract.sib`;
they are read through a second SIB port ahead of the window rows, so a skipped
window costs no cycle; without it every window) it reads the NIBin, SIB and
NBin rows (one window per cycle; every window and all-ones bitmaps in dense
mode) and hands them to the slice (NSM → SSM sequencer → H-tree → PEs); at a
group's first window it also hands over the group's tile configuration (its
first SB word, which follows from the SIB popcount of the groups before it,
and the slot width) and its biases, shift and activation.  Each group's ``tn``
outputs are written to an NBout row two cycles after they come out (the row is
read in between: with ``pool`` the write keeps the larger value of each lane).
With ``vectors`` > 1 it does all that once per input vector, the next vector's
windows right behind the last one's (NBin rows ``windows`` further on, the SIB
mask rows and SB words read again from the start, outputs ``out_stride`` rows
further on): the pipeline fills once for the whole pass.  With ``tiles`` > 1,
every ``tiles`` consecutive vectors are one pool window's tiles: they share
their output rows, and all but the first max-combine into them (a row written
after it is read for the next tile, one or two cycles later, is forwarded).
The windows chosen (f0) pass a two-entry stage (fa and its skid entry fb) that
addresses the buffers, so that f1's back-pressure stops there.

Overlap.  The unit takes its next instruction (``ready``) as soon as the
current one has handed its first window on and no older one drains; it waits
in a register until the current one has fed its last window, then starts: it
reads its first SIB masks and rows and holds its first window in f1 until the
slice's front (the NSM and the SSM sequencer) has run empty of the one before
(``gate``), so each instruction fills an empty pipeline and its fill up to f1
is hidden behind the one before (the performance model's ``Timing.feed``).
The previous instruction then drains as the *older* one (its output row, count
and ``pool`` kept apart; ``older_busy`` until the cycle it would have ended
alone), and the controller keeps its buffer halves reserved until then (also
while the next one waits).  One older instruction at a time.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from golden.contract.params import clog2
from hdl.control import bus
from hdl.control.dma import popcount, port_signature
from hdl.control.isa import WORD_BITS, Op, Slot, view
from hdl.datapath.nsm import neurons_layout, window_layout
from hdl.datapath.skid import PingPongBuffer, SkidBuffer
from hdl.datapath.slice import bias_layout, output_layout, tile_layout

__all__ = ["ComputeUnit", "CONFIG_DEPTH"]


def _more(v):
    """The vectors after the first of COMPUTE view ``v`` (its ``vectors``; 0 counts as 1)."""
    return Mux(v.vectors == 0, 0, v.vectors - 1)

#: Depth of the tile and bias configuration FIFOs: a group's configuration stays
#: until the PEs finish the group, so short groups need this many in flight
#: (golden.perf.perfmodel.Timing.config_depth).
CONFIG_DEPTH = 16


def _lowest(v):
    """The lowest set bit of ``v``, one-hot (zero when ``v`` is)."""
    return (v & (~v + 1))[:len(v)]


class ComputeUnit(wiring.Component):
    """``COMPUTE``: buffers → the sparse slice → NBout.

    Members
    -------
    issue : ``In(bus.issue(drains=True))``
        Its instructions: ``ready`` once the current one has handed its first
        window on and no older one drains; ``busy`` while any instruction is in
        the unit; ``older_busy`` while an earlier one is in it beside the newest
        (feeding while the newest waits, or draining).
    nib_r, sib_r, sibm_r, nbin_r, bias_r, nbout_r : synchronous buffer read ports
        (``sibm_r``: the SIB's mask rows, read ahead of the window rows)
    nbout_w : the NBout write port
    window, neurons, tile, bias : ``Out(stream.Signature(...))``
        To the slice (:class:`hdl.datapath.slice.SparseSlice`'s ``i``, ``neurons``,
        ``tile``, ``bias``).
    outputs : ``In(stream.Signature(...))``
        The slice's ``o``.
    front_idle : ``In(1)``
        The slice's NSM and SSM sequencer are empty (an instruction's first window
        waits for it).
    """

    def __init__(self, cfg):
        self._cfg = cfg
        W, tn = cfg.window, cfg.tn
        rd = lambda rows, shape: Out(port_signature(ReadPort, rows, shape))   # noqa: E731
        super().__init__({
            "issue": In(bus.issue(drains=True)),
            "nib_r": rd(cfg.window_rows, unsigned(W)),
            "sib_r": rd(cfg.sib_rows, unsigned(W)),
            "sibm_r": rd(cfg.sib_rows, unsigned(W)),
            "nbin_r": rd(cfg.window_rows, unsigned(16 * W)),
            "bias_r": rd(cfg.bias_rows, unsigned(32 * tn)),
            "nbout_r": rd(cfg.nbout_rows, unsigned(16 * tn)),
            "nbout_w": Out(port_signature(WritePort, cfg.nbout_rows, unsigned(16 * tn))),
            "window": Out(stream.Signature(window_layout(window=W))),
            "neurons": Out(stream.Signature(neurons_layout(window=W))),
            "tile": Out(stream.Signature(tile_layout(sb_depth=cfg.sb_words))),
            "bias": Out(stream.Signature(bias_layout(tn=tn))),
            "outputs": In(stream.Signature(output_layout(tn=tn))),
            "front_idle": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        # The instruction taken waits in a register (``pend``, ``nxt``: ECP5
        # timing, the controller's issue logic does not reach the unit's state)
        # and starts (``start``, a register) once the one before has fed its last
        # window and handed it on three cycles before (:meth:`_feed`'s
        # ``quiet_n``: its last group's tile configuration has left by then).
        pend = Signal()
        nxt = Signal(WORD_BITS, reset_less=True)
        start = Signal()
        taken = self.issue.instr.valid & self.issue.instr.ready
        pend_n = (pend & ~start) | taken
        with m.If(~pend):
            m.d.sync += nxt.eq(self.issue.instr.payload)
        m.d.sync += pend.eq(pend_n)
        ins = Signal(WORD_BITS, reset_less=True)    # the newest instruction
        with m.If(start):
            m.d.sync += ins.eq(nxt)
        feeding, f1_valid, f1_push, quiet_n, fed1_n = self._feed(
            m, start, pend, view(Op.COMPUTE, ins), nxt)
        m.d.sync += start.eq(pend_n & quiet_n)
        self._outputs(m, start, pend, ins, nxt, feeding, f1_valid, f1_push, fed1_n)
        return m

    def _feed(self, m, start, pend, cp, nxt):
        """The windows of instruction ``cp`` from the buffers to the slice: stage f0
        addresses the rows, stage f1 hands them on.  Returns ``(feeding, f1_valid,
        f1_push, quiet_n, fed1_n)``: windows are left to feed; one is read and not
        yet handed on; one is handed on this cycle; next cycle none is left, in
        flight or handed on in the three cycles before (the next instruction may
        start then); the next value of ``fed1`` (the instruction has handed on its
        first window, or has none).

        The first window waits in f1 until the slice's front (NSM and SSM
        sequencer) has been idle since the instruction started (``gate``): the
        instruction before has left it, so this one fills an empty pipeline."""
        cfg = self._cfg
        W, tn, tm = cfg.window, cfg.tn, cfg.tm

        # The window's neurons and each group's configurations wait in typed FIFOs.
        m.submodules.nfifo = nfifo = bus.StreamFIFO(neurons_layout(window=W), depth=8)
        # (the NBin row enters the FIFO through a skid buffer: the block RAM's read
        # data go into registers, not into the FIFO's memory; ECP5 timing.  A
        # compact configuration writes the FIFO straight from NBin, and hands its
        # head straight to the NSM: the neurons wait in the FIFO for the NSM's
        # bitmap stages either way, so the cycles are the same)
        if cfg.compact:
            nin = nfifo
        else:
            m.submodules.nin = nin = SkidBuffer(neurons_layout(window=W))
            wiring.connect(m, nin.o, nfifo.i)
        # (the tile FIFO one deeper: its entries come two cycles after the biases')
        m.submodules.tfifo = tfifo = bus.StreamFIFO(tile_layout(sb_depth=cfg.sb_words),
                                                    depth=CONFIG_DEPTH + 1)
        m.submodules.bfifo = bfifo = bus.StreamFIFO(bias_layout(tn=tn), depth=CONFIG_DEPTH)
        # (through a skid buffer: the NSM takes a window's neurons in the stage that
        # also moves its beats on, so its ready would reach the FIFO's read logic
        # and its valid every enable of that stage: ECP5 timing.  A ping-pong one:
        # the NSM's ready, late, moves its read pointer, not the W neurons' bits;
        # at Tn = Tm = 2 and 4 a 513-load enable after the NSM's e2 handshake)
        if cfg.compact:
            wiring.connect(m, nfifo.o, wiring.flipped(self.neurons))
        else:
            m.submodules.nskid = nskid = PingPongBuffer(neurons_layout(window=W))
            wiring.connect(m, nfifo.o, nskid.i)
            wiring.connect(m, nskid.o, wiring.flipped(self.neurons))
        wiring.connect(m, tfifo.o, wiring.flipped(self.tile))
        wiring.connect(m, bfifo.o, wiring.flipped(self.bias))

        # --- stage f0: the next window; stage fa: addresses; stage f1: the rows read ---
        # f0 feeds the windows a mask names (golden.contract.sib): per segment of W windows
        # of a group one mask row, read through its own SIB port ahead of the
        # window rows into a queue of three registers (``mq``: masks read, not yet
        # taken); ``cur`` the rest of the segment's mask.  Each fed window is its
        # mask's lowest set bit.  Without ``skip`` (and in dense mode) every window
        # is fed: the masks are all ones, no mask row is read.  fa holds the
        # window chosen and addresses the buffers; their rows arrive in f1.
        # Each mask comes with its number of windows (``*_cnt``), so that the end
        # of a segment is a small compare, off the lowest-set-bit carry chain.
        ones = Const((1 << W) - 1, W)
        cnt_w = clog2(W + 1)
        lg_w = clog2(W)
        g = Signal(16)
        seg = Signal(16)                  # segment of the group
        seg_last = Signal()               # seg == segs - 1 (registers: the counters'
        g_last = Signal()                 # compares are off the window choice's path)
        segs = Signal(16)                 # segments per group: ceil(windows / W)
        last_mask = Signal(W)             # dense: the windows of the last segment
        last_cnt = Signal(cnt_w)
        last_one = Signal()               # last_cnt == 1
        every = Signal()                  # every window: no mask rows (dense or no skip)
        # (SIB row counts are as wide as a SIB address: a program's mask and window
        # rows lie within a half, so no carry chain longer than the address)
        sib_w = clog2(cfg.sib_rows + 1)
        rows_base = Signal(sib_w)         # the first window row: after the mask rows
        cur = Signal(W)
        cur_cnt = Signal(cnt_w)
        cur_one = Signal()                # cur_cnt == 1
        cur_valid = Signal()
        vleft = Signal(8)                 # vectors left to feed after this one
        masks_left = Signal(sib_w)
        mask_ptr = Signal(sib_w)
        row_ptr = Signal(sib_w)
        first = Signal()                  # the next window fed opens its group
        feeding = Signal()
        fa_valid = Signal()
        fa_g = Signal(16)
        fa_first = Signal()
        fa_last = Signal()
        fa_vend = Signal()                # the last window of a vector
        # (the NBin/NIBin row of fa's window, added as the window is chosen: the
        # block RAMs' address pins come from registers, no adder before them)
        fa_addr = Signal(range(cfg.window_rows))
        fa_go = Signal()
        # fa's skid entry (``fb``): f0 hands a window on when fb is empty (a
        # register), not when fa moves on (ECP5 timing: f1's ready no longer
        # runs through the window choice into the mask queue); the SIB rows read
        # for them, kept once the port moves on (``*_fresh``: still on the port)
        fb_valid = Signal()
        fb_g = Signal(16)
        fb_first = Signal()
        fb_last = Signal()
        fb_vend = Signal()
        fb_addr = Signal.like(fa_addr)
        fa_sib = Signal(W)
        fb_sib = Signal(W)
        fa_fresh = Signal()
        fb_fresh = Signal()
        # fa took fb's window at the last edge: its SIB row is fb's (``fb_sib``
        # holds it that cycle: fb takes no new window as fa moves on), copied
        # into ``fa_sib`` at the next edge.  So ``fa_sib``'s enable is a register,
        # not the handshake behind ``head_free`` (ECP5 timing at Tn = Tm = 4:
        # f1's ready -> fa_go -> 32 ``fa_sib`` selects, 10.15 ns)
        fa_in_b = Signal()
        f1_valid = Signal()
        f1_first = Signal()
        f1_last = Signal()
        f1_vend = Signal()
        f1_push = Signal()
        f0_go = Signal()

        # The mask queue: a row read (``fetch``) is registered as it arrives
        # (``arr``, two cycles later), the cycle after its popcount and its lowest
        # set bit are (``arr2``: ECP5 timing, no block RAM output, popcount or
        # carry chain before the queue's registers), and it enters the queue
        # the cycle after that with its popcount, an empty mask as 1 (a segment
        # without synapses still feeds its first window).  Five entries, so that
        # a row is fetched whenever fewer than five are held or coming, without
        # waiting for this cycle's take (ECP5 timing: the window choice no longer
        # reaches the fetch), and a mask a cycle can be taken.
        depth = 5
        mq = [Signal(W, name=f"mq{k}") for k in range(depth)]
        mq_cnt = [Signal(cnt_w, name=f"mq_cnt{k}") for k in range(depth)]
        mq_one = [Signal(name=f"mq_one{k}") for k in range(depth)]       # mq_cnt == 1
        mq_low = [Signal(W, name=f"mq_low{k}") for k in range(depth)]   # lowest set bit
        mq_n = Signal(range(depth + 1))
        # (the rows held or coming, ``mq_n + reading + arriving + arriving2``, a
        # counter of its own: no adder before the fetch; ECP5 timing)
        held = Signal(range(depth + 1))
        reading = Signal()                # a mask row read the cycle before
        arriving = Signal()               # ``arr`` holds a row read
        arr = Signal(W)
        arriving2 = Signal()              # ``arr2`` holds it, with its count
        arr2 = Signal(W)
        arr2_low = Signal(W)
        arr2_cnt = Signal(cnt_w)
        take = Signal()                   # the head mask is taken this cycle
        fetch = Signal()
        arr2_any = Signal()
        in_mask = Mux(arr2_any, arr2, 1)
        in_cnt = Mux(arr2_any, arr2_cnt, 1)
        in_low = Mux(arr2_any, arr2_low, 1)
        m.d.sync += [arriving2.eq(arriving), arr2.eq(arr), arr2_low.eq(_lowest(arr)),
                     arr2_any.eq(arr.any()), arr2_cnt.eq(popcount(m, arr, "mask_pop"))]
        # (``mq_n != 0``, a register: ``f0_go`` enables the window choice's
        # registers, one gate on registers; ECP5 timing.  Its next value and
        # ``mq_n >= 2``'s from flags, ``take`` their last multiplexer's select: at
        # Tn = Tm = 4 the count's adder and compare after ``take`` were 10.15 ns)
        mq_valid = Signal()
        mq_multi = Signal()
        # The mask rows (``n_masks``, groups times segments) are multiplied out as
        # the instruction starts, into a register (no multiplier on the issue
        # path nor before the mask counters); the cycle after (``setup``) loads
        # the counters, meanwhile the first fetch goes by ``masks_nz``.
        setup = Signal()
        masks_nz = Signal()
        n_masks = Signal(sib_w)
        m.d.sync += setup.eq(start)
        # Every vector reads the same mask rows: a round of ``n_masks`` per vector,
        # ``mvec`` rounds left after this one.
        mvec = Signal(8)
        round_last = Signal()             # this fetch takes its round's last mask
        m.d.comb += [round_last.eq(Mux(setup, n_masks == 1, masks_left == 1)),
                     fetch.eq(Mux(setup, masks_nz, masks_left != 0) &
                              (held < depth))]
        # (a row is taken only while one is held: ``mq_n >= take``)
        m.d.sync += [reading.eq(fetch), arriving.eq(reading), mq_n.eq(mq_n + arriving2 - take),
                     mq_valid.eq(arriving2 | Mux(take, mq_multi, mq_valid)),
                     mq_multi.eq(Mux(take, Mux(arriving2, mq_multi, mq_n >= 3),
                                     Mux(arriving2, mq_valid, mq_multi))),
                     held.eq(held + fetch - take)]
        with m.If(reading):
            m.d.sync += arr.eq(self.sibm_r.data)
        land = mq_n - take                # where an arriving row goes
        for k in range(depth):
            with m.If(arriving2 & (land == k)):
                m.d.sync += [mq[k].eq(in_mask), mq_cnt[k].eq(in_cnt), mq_low[k].eq(in_low),
                             mq_one[k].eq(in_cnt == 1)]
            with m.Elif(take):
                m.d.sync += [mq[k].eq(mq[k + 1] if k + 1 < depth else 0),
                             mq_cnt[k].eq(mq_cnt[k + 1] if k + 1 < depth else 0),
                             mq_one[k].eq(mq_one[k + 1] if k + 1 < depth else 0),
                             mq_low[k].eq(mq_low[k + 1] if k + 1 < depth else 0)]

        cm = Signal(W)                    # the mask the next window comes from
        cm_cnt = Signal(cnt_w)            # its windows
        m.d.comb += [cm.eq(Mux(cur_valid, cur,
                               Mux(every, Mux(seg_last, last_mask, ones), mq[0]))),
                     cm_cnt.eq(Mux(cur_valid, cur_cnt,
                                   Mux(every, Mux(seg_last, last_cnt, W), mq_cnt[0])))]
        # Its lowest set bit, one-hot: a register beside each mask (the queue's
        # found as a row arrives, ``cur``'s as the bit before it is taken; the
        # masks of ``every`` start at window 0), so the carry chain that finds it
        # is not on the way from the masks to the window chosen (ECP5 timing).
        low = Signal(W)
        cur_low = Signal(W)
        rest = Signal(W)
        widx = Signal(lg_w)
        m.d.comb += [low.eq(Mux(cur_valid, cur_low, Mux(every, 1, mq_low[0]))),
                     rest.eq(cm ^ low)]
        for b in range(lg_w):
            m.d.comb += widx[b].eq(Cat(low[i] for i in range(W) if i >> b & 1).any())
        m.d.comb += [
            fa_go.eq(fa_valid & (~f1_valid | f1_push)),
            f0_go.eq(feeding & ~fb_valid & (cur_valid | every | mq_valid)),
            take.eq(f0_go & ~cur_valid & ~every),
        ]
        sib_base = Mux(cp.sib_half, cfg.half(cfg.sib_rows), 0) + cp.sib_row
        # (the vector's first NBin row, a register: the half's first row as the
        # instruction starts, ``windows`` more for each vector)
        vbase = Signal(range(cfg.window_rows))
        v_last = Signal()                 # the vector fed is the instruction's last
        m.d.comb += [
            self.nib_r.addr.eq(fa_addr), self.nbin_r.addr.eq(fa_addr),
            self.sib_r.addr.eq(sib_base + rows_base + row_ptr), self.sib_r.en.eq(f0_go),
            self.sibm_r.addr.eq(sib_base + mask_ptr), self.sibm_r.en.eq(fetch),
            self.bias_r.addr.eq(Mux(cp.bias_half, cfg.half(cfg.bias_rows), 0) + cp.bias_row
                                + fa_g),
        ]
        # A window's NBin, NIBin and bias rows are read as it enters f1 and stay
        # until f1 pushes it.  Compact: the read ports' enable is ``fa_go``.  Else
        # the ports read ``fa_addr`` every cycle and f1 keeps its rows in registers
        # of its own from the cycle after they arrive (``f1_fresh``): ``fa_go``,
        # late (it waits on the NSM's ready), would otherwise enable every bit of
        # the read data (ECP5 timing: at Tn = Tm = 4, 708 flip-flops, 11.3 ns).
        f1_rows = {}
        if cfg.compact:
            for port in (self.nib_r, self.nbin_r, self.bias_r):
                m.d.comb += port.en.eq(fa_go)
                f1_rows[port] = port.data
        else:
            f1_fresh = Signal()
            m.d.sync += f1_fresh.eq(fa_go)
            for port in (self.nib_r, self.nbin_r, self.bias_r):
                keep = Signal.like(port.data, name=f"{port.data.name}_held")
                with m.If(f1_fresh):
                    m.d.sync += keep.eq(port.data)
                f1_rows[port] = Mux(f1_fresh, port.data, keep)
        with m.If(fetch):
            with m.If(round_last & (mvec != 0)):
                m.d.sync += [mask_ptr.eq(0), masks_left.eq(n_masks),
                             mvec.eq(mvec - 1)]
            with m.Else():
                m.d.sync += [mask_ptr.eq(mask_ptr + 1),
                             masks_left.eq(Mux(setup, n_masks, masks_left) - 1)]
        with m.Elif(setup):
            m.d.sync += masks_left.eq(Mux(masks_nz, n_masks, 0))
        with m.If(setup):
            m.d.sync += rows_base.eq(Mux(cp.skip, n_masks, 0))
        # (``cm_cnt == 1`` from flags kept beside the counts: the segment's end
        # enables the group's and vector's counters, no compare before them;
        # ECP5 timing, at Tn = Tm = 4 ``every`` -> ``vbase`` 12.2 ns)
        seg_done = Mux(cur_valid, cur_one, Mux(every, seg_last & last_one, mq_one[0]))
        group_done = seg_done & seg_last
        # fa takes fb's window, else f0's; f0's goes to fb while fa holds.
        head_free = ~fa_valid | fa_go
        new = [g, first, group_done, group_done & g_last, vbase + Cat(widx, seg)]
        fa_regs = [fa_g, fa_first, fa_last, fa_vend, fa_addr]
        fb_regs = [fb_g, fb_first, fb_last, fb_vend, fb_addr]
        with m.If(head_free):
            with m.If(fb_valid):
                m.d.sync += [fa_valid.eq(1), fb_valid.eq(0), fa_fresh.eq(0), fa_in_b.eq(1)]
                m.d.sync += [a.eq(b) for a, b in zip(fa_regs, fb_regs)]
            with m.Else():
                m.d.sync += [fa_valid.eq(f0_go), fa_fresh.eq(1), fa_in_b.eq(0)]
                m.d.sync += [a.eq(b) for a, b in zip(fa_regs, new)]
        with m.Else():
            m.d.sync += [fa_fresh.eq(0), fa_in_b.eq(0)]
            with m.If(f0_go):
                m.d.sync += fb_valid.eq(1)
        # fa's SIB row, kept once the port moves on to fb's row (``fa_fresh``) or
        # once fb's row may be overwritten (``fa_in_b``); while either is set the
        # row is read where it is (``sb_in``), so what is kept past fa's last
        # cycle is never read.
        with m.If(fa_fresh):
            m.d.sync += fa_sib.eq(self.sib_r.data)
        with m.Elif(fa_in_b):
            m.d.sync += fa_sib.eq(fb_sib)
        # fb's registers follow f0's window while fb is empty and its SIB row the
        # cycle after it enters (``fb_fresh``): enabled by registers, not by the
        # handshake behind ``head_free`` (ECP5 timing at Tn = Tm = 4: the bias
        # FIFO's level -> f1_push -> fa_go -> fb's enables, 12.8 ns).
        with m.If(~fb_valid):
            m.d.sync += [a.eq(b) for a, b in zip(fb_regs, new)]
        m.d.sync += fb_fresh.eq(f0_go & ~head_free)
        with m.If(fb_fresh):
            m.d.sync += fb_sib.eq(self.sib_r.data)
        with m.If(f0_go):
            m.d.sync += [cur.eq(rest), cur_low.eq(_lowest(rest)), cur_cnt.eq(cm_cnt - 1),
                         cur_one.eq(cm_cnt == 2),
                         cur_valid.eq(~seg_done),
                         row_ptr.eq(row_ptr + 1),
                         first.eq(group_done)]
            with m.If(group_done):
                m.d.sync += [seg.eq(0), seg_last.eq(segs == 1), g.eq(g + 1),
                             g_last.eq(g + 2 == cp.groups)]
                with m.If(g_last & v_last):
                    m.d.sync += feeding.eq(0)
                with m.Elif(g_last):      # the next vector: the same groups again
                    m.d.sync += [g.eq(0), g_last.eq(cp.groups == 1), row_ptr.eq(0),
                                 vbase.eq(vbase + cp.windows), v_last.eq(vleft == 1),
                                 vleft.eq(vleft - 1)]
            with m.Elif(seg_done):
                m.d.sync += [seg.eq(seg + 1), seg_last.eq(seg + 2 == segs)]
        # The window's SIB row is read a stage early (its address is known in f0),
        # so that it enters f1 as a register; its popcount adds up there.
        f1_sb = Signal(W)
        sb_in = Mux(cp.dense, ones,
                    Mux(fa_fresh, self.sib_r.data, Mux(fa_in_b, fb_sib, fa_sib)))
        with m.If(fa_go):
            m.d.sync += [f1_valid.eq(1), f1_first.eq(fa_first), f1_last.eq(fa_last),
                         f1_vend.eq(fa_vend),
                         f1_sb.eq(sb_in)]
        with m.Elif(f1_push):
            m.d.sync += f1_valid.eq(0)

        nb = Mux(cp.dense, ones, f1_rows[self.nib_r])
        sb = f1_sb
        # The SB base of each group: the SIB popcount of the groups before it, in
        # SB words of 64 * tm bits (16, 8 or 4 weights per tm by the slot width).
        # ECP5 timing: a pushed window's SIB row is counted in bytes the cycle
        # after the push (stage p), the counts added to the group's the cycle
        # after that; a group's count is registered at its last window
        # (``g_syn``), turned into words and added to the base the cycle after;
        # the group's tile configuration goes to its FIFO two cycles after its
        # first window (``tile_pend``), when the base of the groups before it is
        # complete.  The tile FIFO empties ahead of the bias FIFO (a tile is
        # taken after its last SSM step, its biases after its last output), so
        # the bias FIFO's room stands for both.
        sb_base = Signal(16)
        syn_count = Signal(16)
        p_valid = Signal()
        p_last = Signal()
        p_vend = Signal()
        p_parts = [f1_sb[i:i + 8] for i in range(0, W, 8)]
        p_pop = [Signal(4, name=f"p_pop{i}") for i in range(len(p_parts))]
        m.d.sync += [p_valid.eq(f1_push), p_last.eq(f1_last), p_vend.eq(f1_vend)]
        m.d.sync += [c.eq(popcount(m, part, f"sib_pop{i}"))
                     for i, (c, part) in enumerate(zip(p_pop, p_parts))]
        group_syn = syn_count + sum(p_pop)
        g_syn = Signal(16)
        g_syn_valid = Signal()
        g_syn_vend = Signal()             # ... and it ended a vector: the next starts over
        group_words = Signal(16)
        with m.Switch(cp.slot):
            for slot in Slot:
                shift = clog2(64 * tm // slot.bits)
                with m.Case(slot):
                    m.d.comb += group_words.eq((g_syn + (1 << shift) - 1) >> shift)
        tile_pend = Signal()
        tile_pend1 = Signal()

        # A window goes to the slice, its neurons to their FIFO and, at a group's
        # first window, the group's bias configuration to theirs: all together
        # or not at all (the tile configuration follows a cycle later).
        # (``gate``: the front has been idle since the instruction started)
        gate = Signal()
        with m.If(start):
            m.d.sync += gate.eq(0)
        with m.Elif(self.front_idle):
            m.d.sync += gate.eq(1)
        f1_go = f1_valid & gate
        side_ok = ~f1_first | bfifo.i.ready
        m.d.comb += f1_push.eq(f1_go & self.window.ready & nin.i.ready & side_ok)
        win, tile, bias = self.window.payload, tfifo.i.payload, bfifo.i.payload
        m.d.comb += [
            self.window.valid.eq(f1_go & nin.i.ready & side_ok),
            win.neuron_bitmap.eq(nb), win.synapse_bitmap.eq(sb), win.last.eq(f1_last),
            nin.i.valid.eq(f1_go & self.window.ready & side_ok),
            nin.i.payload.eq(f1_rows[self.nbin_r]),
            tile.sb_base.eq(Mux(cp.sb_half, cfg.half(cfg.sb_words), 0) + sb_base),
            tile.slot.eq(cp.slot),
            tile.table.eq(cp.lut_half),
            tfifo.i.valid.eq(tile_pend),
            bias.bias.eq(f1_rows[self.bias_r]),
            bias.shift.eq(cp.shift),
            bias.activation.eq(cp.activation),
            bfifo.i.valid.eq(f1_go & f1_first & self.window.ready & nin.i.ready),
        ]
        m.d.sync += [tile_pend1.eq(f1_push & f1_first), tile_pend.eq(tile_pend1),
                     g_syn_valid.eq(p_valid & p_last), g_syn_vend.eq(p_valid & p_last & p_vend)]
        with m.If(p_valid):
            with m.If(p_last):
                m.d.sync += [syn_count.eq(0), g_syn.eq(group_syn)]
            with m.Else():
                m.d.sync += syn_count.eq(group_syn)
        with m.If(g_syn_valid):
            m.d.sync += sb_base.eq(Mux(g_syn_vend, cp.sb_base, sb_base + group_words))

        # (the segments per group from the instruction on offer, a register beside
        # ``nxt``: no adder before the multiplier that counts the mask rows)
        n_segs = Signal(16)
        with m.If(~pend):
            offered = view(Op.COMPUTE, self.issue.instr.payload)
            m.d.sync += n_segs.eq((offered.windows + W - 1) >> lg_w)
        with m.If(start):
            cv = view(Op.COMPUTE, nxt)
            # (the flags without the adder: they load on the issue path)
            some = cv.windows != 0
            one_seg = some & (((cv.windows >> lg_w) == 0) | (cv.windows == W))
            m.d.sync += [vbase.eq(Mux(cv.nbin_half, cfg.half(cfg.window_rows), 0)),
                         v_last.eq(cv.vectors <= 1), vleft.eq(_more(cv)), mvec.eq(_more(cv)),
                         segs.eq(n_segs), n_masks.eq(cv.groups * n_segs), seg.eq(0),
                         first.eq(1), cur_valid.eq(0),
                         mq_n.eq(0), mq_valid.eq(0), mq_multi.eq(0), held.eq(0), reading.eq(0),
                         arriving.eq(0), arriving2.eq(0), mask_ptr.eq(0),
                         row_ptr.eq(0), fa_valid.eq(0), fb_valid.eq(0),
                         every.eq(cv.dense | ~cv.skip),
                         masks_nz.eq(cv.skip & ~cv.dense & (cv.groups != 0) & some),
                         masks_left.eq(0), rows_base.eq(0),
                         last_mask.eq(ones >> (~cv.windows[:lg_w] + 1)[:lg_w]),
                         last_cnt.eq(Mux(cv.windows[:lg_w] == 0, W, cv.windows[:lg_w])),
                         last_one.eq(Mux(cv.windows[:lg_w] == 0, W == 1, cv.windows[:lg_w] == 1)),
                         g.eq(0), feeding.eq(cv.groups != 0), f1_valid.eq(0),
                         seg_last.eq(one_seg), g_last.eq(cv.groups == 1),
                         sb_base.eq(cv.sb_base), syn_count.eq(0)]
        in_flight = Signal()              # windows chosen, not yet handed to the slice
        m.d.comb += in_flight.eq(fa_valid | fb_valid | f1_valid)
        # Next cycle nothing is left to feed or in flight, and no window was
        # handed on in the three cycles before it: nothing is in flight next
        # cycle unless it is this cycle (a window moves on to f1 or is handed
        # on), and windows are left to feed only if they are now or the
        # instruction starting has some.
        pushed = Signal(2)                # windows handed on one and two cycles ago
        m.d.sync += pushed.eq(Cat(f1_push, pushed[0]))
        quiet_n = Signal()
        m.d.comb += quiet_n.eq(~Mux(start, view(Op.COMPUTE, nxt).groups != 0, feeding) &
                               ~in_flight & ~f1_push & ~pushed.any())
        fed1 = Signal(init=1)
        fed1_n = Signal()
        m.d.comb += fed1_n.eq(Mux(start, view(Op.COMPUTE, nxt).groups == 0, fed1 | f1_push))
        m.d.sync += fed1.eq(fed1_n)
        return feeding, in_flight, f1_push, quiet_n, fed1_n

    def _outputs(self, m, start, waiting, ins, nxt, feeding, f1_valid, f1_push, fed1_n):
        """The slice's outputs into NBout, and when the unit is busy and ready.

        Each output is written the cycle after it comes out: its row is read
        meanwhile, and with ``pool`` the write keeps the larger value of each
        lane (golden.twins.pefu.pool_max).  The outputs belong to the older
        instruction while one is draining, else to the newest."""
        cfg, tn = self._cfg, self._cfg.tn
        cp = view(Op.COMPUTE, ins)
        busy = Signal()          # an instruction in the unit (feeding or draining)
        older_busy = Signal()    # an older instruction still draining
        # (the cycle between taking an instruction and starting it counts as busy,
        # and as older_busy if the one before still drains.  Both go to the
        # controller from registers of their own, loaded from the next values of
        # ``busy``, ``old_pending``, ``tail`` and ``start``: ECP5 timing, no gate
        # between the unit's state and the controller's hazard check.)
        busy_n = Signal()
        old_pending_n = Signal()
        tail_n = Signal(3)
        busy_q = Signal()
        older_q = Signal()
        taken = self.issue.instr.valid & self.issue.instr.ready
        m.d.comb += [self.issue.busy.eq(busy_q), self.issue.older_busy.eq(older_q)]
        old = Signal(WORD_BITS, reset_less=True)
        old_pending = Signal()
        tail = Signal(3)                  # the older one's last two stages, then its release
        # The outputs' place: row ``out_addr`` (``out_base`` + the group), in the
        # vector whose first row is ``out_base`` (a register: the half's row
        # ``out_row`` for the first vector, ``out_stride`` more for each next);
        # ``out_glast``: the next output is the vector's last group (``out_gleft``
        # groups after it); ``out_vlast``: the vector is the instruction's last;
        # ``out_done``: every output of it is out.  All registers (ECP5 timing: no
        # adder or compare between an output and its row).
        out_addr = Signal.like(self.nbout_w.addr)
        out_gleft = Signal(16)
        out_glast = Signal()
        out_base = Signal.like(self.nbout_w.addr)
        out_vleft = Signal(8)
        out_vlast = Signal()
        out_done = Signal()
        # ``tiles``: the vector's index in its pool window; a window's vectors share
        # ``out_base``, and all but its first max-combine into the rows.
        out_tile = Signal(5)
        out_wend = Signal()               # ``out_tile`` is its pool window's last: a register
        # The fields of the instruction whose outputs come, latched with its output
        # counters (ECP5 timing: no multiplexer of the older and newer instruction
        # before the counters' adders).
        o_pool = Signal()
        o_tiles = Signal.like(cp.tiles)
        o_stride = Signal.like(cp.out_stride)
        o_groups_m1 = Signal.like(cp.groups)
        o_groups1 = Signal()
        fire = Signal()
        final = Signal()                  # the next output is the instruction's last
        group_end = Signal()              # ... the vector's last
        # The slice's outputs enter a register first (ECP5 timing at Tn = Tm = 4:
        # a PE's output FIFO -> the PEs' lockstep join across the chip -> the
        # output counters' enables, 11.4 ns, 9.7 of it routing); the unit always
        # takes them, so the register is a cycle of latency and nothing else
        # (``Timing.fill`` and ``drain`` count it).
        o_valid = Signal()
        o_data = Signal(16 * tn, reset_less=True)
        m.d.sync += [o_valid.eq(self.outputs.valid), o_data.eq(self.outputs.payload)]
        m.d.comb += [
            self.outputs.ready.eq(1),
            fire.eq(o_valid & busy),
            group_end.eq(out_glast),
            final.eq(group_end & out_vlast),
            self.nbout_r.addr.eq(out_addr),
            self.nbout_r.en.eq(1),
        ]
        # Two stages after an output fires (ECP5 timing: no NBout read data
        # runs into a compare): ``pend`` holds it while its row is read, then
        # ``post`` holds it with the row and writes it, with ``pool`` the larger
        # value of each lane.  The row read misses the writes of the two outputs
        # before it: from ``post`` (written this cycle) or ``wrote`` (last
        # cycle's write) when they went to the same row (the tiles of a pool
        # window one or two groups apart).
        pend = Signal()
        pend_pool = Signal()
        pend_addr = Signal.like(out_addr)
        pend_data = Signal(16 * tn, reset_less=True)
        m.d.sync += pend.eq(fire)
        with m.If(fire):
            m.d.sync += [pend_addr.eq(out_addr), pend_data.eq(o_data),
                         pend_pool.eq(o_pool | (out_tile != 0))]
        post = Signal()
        post_pool = Signal()
        post_addr = Signal.like(out_addr)
        post_data = Signal(16 * tn, reset_less=True)
        post_held = Signal(16 * tn, reset_less=True)
        written = Signal(16 * tn)
        wrote = Signal(16 * tn, reset_less=True)
        # (which of them the row read misses, found the cycle before from the
        # addresses, in registers: the block RAM's read data pass one gate, not a
        # compare's, on their way to ``post_held``; ECP5 timing at Tn = Tm = 2,
        # NBout -> post_held 10.2 ns, the block RAM's clock-to-out the most of it)
        by_post = Signal()                # pend's row is the one post writes
        by_wrote = Signal()               # ... the one written the cycle before
        by_any = Signal()
        hit_post, hit_wrote = pend & (pend_addr == out_addr), post & (post_addr == out_addr)
        m.d.sync += [by_post.eq(hit_post), by_wrote.eq(hit_wrote),
                     by_any.eq(hit_post | hit_wrote)]
        held = Mux(by_any, Mux(by_post, written, wrote), self.nbout_r.data)
        m.d.sync += [post.eq(pend), wrote.eq(written)]
        with m.If(pend):
            m.d.sync += [post_addr.eq(pend_addr), post_data.eq(pend_data),
                         post_pool.eq(pend_pool), post_held.eq(held)]
        lanes = [(post_held[16 * j:16 * (j + 1)], post_data[16 * j:16 * (j + 1)])
                 for j in range(tn)]
        pooled = Cat(Mux(h.as_signed() > o.as_signed(), h, o) for h, o in lanes)
        m.d.comb += [written.eq(Mux(post_pool, pooled, post_data)),
                     self.nbout_w.addr.eq(post_addr),
                     self.nbout_w.data.eq(written),
                     self.nbout_w.en.eq(post)]

        def restart(v):
            """The output counters for instruction view ``v``, its first output next."""
            base = Mux(v.out_half, cfg.half(cfg.nbout_rows), 0) + v.out_row
            return [o_pool.eq(v.pool), o_tiles.eq(v.tiles), o_stride.eq(v.out_stride),
                    o_groups_m1.eq(v.groups - 1), o_groups1.eq(v.groups == 1),
                    out_gleft.eq(v.groups - 1), out_glast.eq(v.groups == 1),
                    out_done.eq(v.groups == 0), out_tile.eq(0), out_wend.eq(v.tiles <= 1),
                    out_base.eq(base), out_addr.eq(base),
                    out_vlast.eq(v.vectors <= 1), out_vleft.eq(_more(v))]

        def advance():
            """One output written: the next group, or the next vector's first (its
            pool window's rows, or the next window's ``out_stride`` on)."""
            next_v = group_end & ~out_vlast
            window_end = out_wend
            next_base = Mux(next_v & window_end, out_base + o_stride, out_base)
            return [out_gleft.eq(Mux(group_end, o_groups_m1, out_gleft - 1)),
                    out_glast.eq(Mux(group_end, o_groups1, out_gleft == 1)),
                    out_addr.eq(Mux(group_end, next_base, out_addr + 1)),
                    out_done.eq(final),
                    out_base.eq(next_base),
                    out_tile.eq(Mux(next_v, Mux(window_end, 0, out_tile + 1), out_tile)),
                    out_wend.eq(Mux(next_v, Mux(window_end, o_tiles <= 1, out_tile + 2 >= o_tiles),
                                    out_wend)),
                    out_vlast.eq(out_vlast | (group_end & (out_vleft == 1))),
                    out_vleft.eq(Mux(next_v, out_vleft - 1, out_vleft))]

        finishing_old = Signal()
        m.d.comb += finishing_old.eq(old_pending & fire & final)
        # The unit takes an instruction when it has none starting, no window left
        # to feed or in flight, no older one draining, and the NSM and the
        # sequencer were idle the cycle before (their valid bits do not reach the
        # controller's issue logic; the cycle after a window was handed on they
        # may not know it yet, so not then either).  ``ready`` is a register,
        # loaded from those conditions' next values (ECP5 timing at Tn = Tm = 4: the
        # unit's state -> its ready -> the controller's issue -> its conflict
        # registers, 10.4 ns, 9 levels).  "Nothing to feed or in flight" holds
        # after a cycle exactly when it holds in it, unless an instruction starts
        # (then its groups say) or the last window is handed on (then the
        # handing on says no).
        ready = Signal()
        waiting_n = (waiting & ~start) | taken    # an instruction waits next cycle
        m.d.sync += ready.eq(~waiting_n & fed1_n & ~old_pending_n & ~tail_n.any())
        m.d.comb += [
            older_busy.eq(old_pending | tail.any()),
            self.issue.instr.ready.eq(ready),
        ]

        # An instruction's unit is busy until the fourth cycle after its last
        # output (the row read, the write, then the release); an older one's
        # ``tail`` counts those cycles, so it is released exactly when it would
        # be alone.
        # (each next value one expression: a Verilog ``always @*`` whose inputs never
        # change would leave it x at the start in an event-driven simulator)
        keep = Signal()                   # the newest instruction's outputs still come
        idle = Signal()                   # nothing left in the unit
        m.d.comb += [
            keep.eq(busy & ~out_done & ~(fire & final)),
            idle.eq(busy & ~feeding & ~f1_valid & ~old_pending & out_done
                    & ~pend & ~post & ~tail.any()),
            busy_n.eq(start | (busy & ~idle)),
            old_pending_n.eq(Mux(start, keep, old_pending & ~finishing_old)),
            tail_n.eq(Mux(start, Cat(busy & fire & final,
                                     busy & pend & ~fire & out_done,
                                     busy & post & ~pend & ~fire & out_done),
                          Cat(finishing_old, tail[:2]))),
        ]
        m.d.sync += [busy.eq(busy_n), old_pending.eq(old_pending_n), tail.eq(tail_n),
                     busy_q.eq(busy_n | waiting_n),
                     older_q.eq(old_pending_n | tail_n.any() | (waiting_n & busy_n))]
        with m.If(start):
            # The newest instruction becomes the older one while its outputs
            # come (``ready`` holds only when no older one is left).
            m.d.sync += old.eq(ins)
            with m.If(keep):
                with m.If(fire):
                    m.d.sync += advance()
            with m.Else():
                m.d.sync += restart(view(Op.COMPUTE, nxt))
        with m.Else():
            with m.If(finishing_old):
                m.d.sync += restart(cp)
            with m.Elif(fire):
                m.d.sync += advance()
