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
outputs are written to an NBout row the cycle after they come out (meanwhile
the row is read: with ``pool`` the write keeps the larger value of each lane).

Overlap.  The unit takes its next instruction (``ready``) once the current one
has fed its last window and the NSM and the SSM sequencer have run empty: what
is left of it is the H-tree and PE pipeline, a fixed latency.  The previous
instruction then drains as the *older* one (its output row, count and ``pool``
kept apart; ``older_busy`` until the cycle it would have ended alone), and the
controller keeps its buffer halves reserved until then.  One older instruction
at a time.
"""

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal
from amaranth.lib.fifo import SyncFIFOBuffered

from hdl.control.dma import popcount
from hdl.control.isa import WORD_BITS, Op, Slot, view
from golden.contract.params import clog2

__all__ = ["ComputeUnit", "CONFIG_DEPTH"]

#: Depth of the tile and bias configuration FIFOs: a group's configuration stays
#: until the PEs finish the group, so short groups need this many in flight
#: (golden.perf.perfmodel.Timing.config_depth).
CONFIG_DEPTH = 16


class ComputeUnit(Elaboratable):
    """``ports``: ``nib_r``, ``sib_r``, ``sibm_r`` (the SIB's mask rows), ``nbin_r``,
    ``bias_r``, ``nbout_r`` (synchronous read ports) and ``nbout_w``; ``slice`` the
    :class:`hdl.datapath.slice.SparseSlice` it drives."""

    def __init__(self, cfg, ports, slice_):
        self._cfg = cfg
        self._p = ports
        self._slice = slice_
        self.start = Signal()
        self.instr = Signal(WORD_BITS)
        self.busy = Signal()          # an instruction in the unit (feeding or draining)
        self.ready = Signal()         # a new instruction may start
        self.older_busy = Signal()    # an older instruction still draining

    def elaborate(self, platform):
        m = Module()
        cfg, p, sl = self._cfg, self._p, self._slice
        W, tn, tm = cfg.window, cfg.tn, cfg.tm
        ins = Signal(WORD_BITS)
        cp = view(Op.COMPUTE, ins)
        with m.If(self.start):
            m.d.sync += ins.eq(self.instr)

        m.submodules.nfifo = nfifo = SyncFIFOBuffered(width=16 * W, depth=8)
        m.submodules.tfifo = tfifo = SyncFIFOBuffered(width=len(sl.tile.payload.as_value()),
                                                      depth=CONFIG_DEPTH)
        m.submodules.bfifo = bfifo = SyncFIFOBuffered(width=len(sl.bias.payload.as_value()),
                                                      depth=CONFIG_DEPTH)
        m.d.comb += [
            sl.neurons.valid.eq(nfifo.r_rdy), sl.neurons.payload.as_value().eq(nfifo.r_data),
            nfifo.r_en.eq(sl.neurons.ready),
            sl.tile.valid.eq(tfifo.r_rdy), sl.tile.payload.as_value().eq(tfifo.r_data),
            tfifo.r_en.eq(sl.tile.ready),
            sl.bias.valid.eq(bfifo.r_rdy), sl.bias.payload.as_value().eq(bfifo.r_data),
            bfifo.r_en.eq(sl.bias.ready),
        ]

        # --- stage f0: addresses; stage f1: the rows read --------------------------------
        # f0 feeds the windows a mask names (golden.contract.sib): per segment of W windows
        # of a group one mask row, read through its own SIB port ahead of the
        # window rows (``mq``: the port's data is the next mask, not yet taken);
        # ``cur`` the rest of the segment's mask.  Each fed window is its mask's
        # lowest set bit.  Without ``skip`` (and in dense mode) every window is
        # fed: the masks are all ones, no mask row is read.
        ones = Const((1 << W) - 1, W)
        lg_w = clog2(W)
        g = Signal(16)
        seg = Signal(16)                  # segment of the group
        segs = Signal(16)                 # segments per group: ceil(windows / W)
        last_mask = Signal(W)             # dense: the windows of the last segment
        rows_base = Signal(16)            # the first window row: after the mask rows
        cur = Signal(W)
        cur_valid = Signal()
        mq_valid = Signal()
        masks_left = Signal(32)
        mask_ptr = Signal(16)
        row_ptr = Signal(16)
        first = Signal()                  # the next window fed opens its group
        feeding = Signal()
        f1_valid = Signal()
        f1_first = Signal()
        f1_last = Signal()
        f1_push = Signal()
        f0_go = Signal()

        fetched = p["sibm_r"].data
        cm = Signal(W)                    # the mask the next window comes from
        every = cp.dense | ~cp.skip       # every window: no mask rows
        m.d.comb += cm.eq(Mux(cur_valid, cur,
                              Mux(every, Mux(seg == segs - 1, last_mask, ones),
                                  Mux(fetched.any(), fetched, 1))))
        low = Signal(W)                   # its lowest set bit, one-hot
        rest = Signal(W)
        widx = Signal(lg_w)
        m.d.comb += [low.eq((cm & (~cm + 1))[:W]), rest.eq(cm ^ low)]
        for b in range(lg_w):
            m.d.comb += widx[b].eq(Cat(low[i] for i in range(W) if i >> b & 1).any())
        take = Signal()                   # the fetched mask is taken this cycle
        fetch = Signal()
        m.d.comb += [
            f0_go.eq(feeding & (~f1_valid | f1_push) & (cur_valid | every | mq_valid)),
            take.eq(f0_go & ~cur_valid & ~every),
            fetch.eq((masks_left != 0) & (~mq_valid | take)),
        ]
        sib_base = Mux(cp.sib_half, cfg.half(cfg.sib_rows), 0) + cp.sib_row
        win_half = Mux(cp.nbin_half, cfg.half(cfg.window_rows), 0)
        window = (seg << lg_w) + widx
        m.d.comb += [
            p["nib_r"].addr.eq(win_half + window), p["nbin_r"].addr.eq(win_half + window),
            p["sib_r"].addr.eq(sib_base + rows_base + row_ptr),
            p["sibm_r"].addr.eq(sib_base + mask_ptr), p["sibm_r"].en.eq(fetch),
            p["bias_r"].addr.eq(Mux(cp.bias_half, cfg.half(cfg.bias_rows), 0) + cp.bias_row + g),
        ]
        for name in ("nib_r", "nbin_r", "sib_r", "bias_r"):
            m.d.comb += p[name].en.eq(f0_go)
        m.d.sync += mq_valid.eq(fetch | (mq_valid & ~take))
        with m.If(fetch):
            m.d.sync += [mask_ptr.eq(mask_ptr + 1), masks_left.eq(masks_left - 1)]
        seg_done = rest == 0
        group_done = seg_done & (seg == segs - 1)
        with m.If(f0_go):
            m.d.sync += [f1_valid.eq(1), f1_first.eq(first), f1_last.eq(group_done),
                         cur.eq(rest), cur_valid.eq(~seg_done), row_ptr.eq(row_ptr + 1),
                         first.eq(group_done)]
            with m.If(group_done):
                m.d.sync += [seg.eq(0), g.eq(g + 1)]
                with m.If(g + 1 == cp.groups):
                    m.d.sync += feeding.eq(0)
            with m.Elif(seg_done):
                m.d.sync += seg.eq(seg + 1)
        with m.Elif(f1_push):
            m.d.sync += f1_valid.eq(0)

        nb = Mux(cp.dense, ones, p["nib_r"].data)
        sb = Mux(cp.dense, ones, p["sib_r"].data)
        # The SB base of each group: the SIB popcount of the groups before it, in
        # SB words of 64 * tm bits (16, 8 or 4 weights per tm by the slot width).
        sb_base = Signal(16)
        syn_count = Signal(32)
        sb_pop = popcount(m, sb, "sib_pop")
        group_syn = syn_count + sb_pop
        group_words = Signal(32)
        with m.Switch(cp.slot):
            for slot in Slot:
                shift = clog2(64 * tm // slot.bits)
                with m.Case(slot):
                    m.d.comb += group_words.eq((group_syn + (1 << shift) - 1) >> shift)

        side_ok = ~f1_first | (tfifo.w_rdy & bfifo.w_rdy)
        m.d.comb += f1_push.eq(f1_valid & sl.i.ready & nfifo.w_rdy & side_ok)
        m.d.comb += [
            sl.i.valid.eq(f1_valid & nfifo.w_rdy & side_ok),
            sl.i.payload.neuron_bitmap.eq(nb),
            sl.i.payload.synapse_bitmap.eq(sb),
            sl.i.payload.last.eq(f1_last),
            nfifo.w_en.eq(f1_push),
            nfifo.w_data.eq(p["nbin_r"].data),
        ]
        tile = Signal(sl.tile.payload.shape())
        bias = Signal(sl.bias.payload.shape())
        m.d.comb += [
            tile.sb_base.eq(Mux(cp.sb_half, cfg.half(cfg.sb_words), 0) + sb_base),
            tile.slot.eq(cp.slot),
            bias.bias.as_value().eq(p["bias_r"].data),
            bias.shift.eq(cp.shift),
            bias.activation.eq(cp.activation),
            tfifo.w_en.eq(f1_push & f1_first), tfifo.w_data.eq(tile.as_value()),
            bfifo.w_en.eq(f1_push & f1_first), bfifo.w_data.eq(bias.as_value()),
        ]
        with m.If(f1_push):
            with m.If(f1_last):
                m.d.sync += [syn_count.eq(0), sb_base.eq(sb_base + group_words)]
            with m.Else():
                m.d.sync += syn_count.eq(group_syn)

        # --- outputs into NBout ------------------------------------------------------------
        # Each output is written the cycle after it comes out: its row is read
        # meanwhile, and with ``pool`` the write keeps the larger value of each
        # lane (golden.twins.pefu.pool_max).  The outputs belong to the older
        # instruction while one is draining, else to the newest.
        old = Signal(WORD_BITS)
        old_pending = Signal()
        tail = Signal(2)                  # the older one's last write, then its release
        out_k = Signal(16)
        desc = Signal(WORD_BITS)
        m.d.comb += desc.eq(Mux(old_pending, old, ins))
        dv = view(Op.COMPUTE, desc)
        fire = Signal()
        out_addr = Signal.like(p["nbout_w"].addr)
        m.d.comb += [
            sl.o.ready.eq(1),
            fire.eq(sl.o.valid & self.busy),
            out_addr.eq(Mux(dv.out_half, cfg.half(cfg.nbout_rows), 0) + dv.out_row + out_k),
            p["nbout_r"].addr.eq(out_addr),
            p["nbout_r"].en.eq(1),
        ]
        pend = Signal()
        pend_pool = Signal()
        pend_addr = Signal.like(out_addr)
        pend_data = Signal(16 * tn)
        m.d.sync += pend.eq(fire)
        with m.If(fire):
            m.d.sync += [pend_addr.eq(out_addr), pend_data.eq(sl.o.payload.as_value()),
                         pend_pool.eq(dv.pool)]
        held = p["nbout_r"].data
        lanes = [(held[16 * j:16 * (j + 1)], pend_data[16 * j:16 * (j + 1)]) for j in range(tn)]
        pooled = Cat(Mux(h.as_signed() > o.as_signed(), h, o) for h, o in lanes)
        m.d.comb += [p["nbout_w"].addr.eq(pend_addr),
                     p["nbout_w"].data.eq(Mux(pend_pool, pooled, pend_data)),
                     p["nbout_w"].en.eq(pend)]

        finishing_old = Signal()
        m.d.comb += finishing_old.eq(old_pending & fire & (out_k + 1 == dv.groups))
        m.d.comb += [
            self.older_busy.eq(old_pending | tail.any()),
            self.ready.eq(~feeding & ~f1_valid & sl.front_idle & ~self.older_busy),
        ]

        # An instruction's unit is busy until the third cycle after its last
        # output (the write, then the release); an older one's ``tail`` counts
        # those cycles, so it is released exactly when it would be alone.
        with m.If(self.start):
            cv = view(Op.COMPUTE, self.instr)
            # The newest instruction becomes the older one while its outputs
            # come (``ready`` holds only when no older one is left).
            keep = Signal()
            m.d.comb += keep.eq(self.busy & (out_k + fire != cp.groups))
            n_segs = (cv.windows + W - 1) >> lg_w
            m.d.sync += [segs.eq(n_segs), seg.eq(0), first.eq(1), cur_valid.eq(0),
                         mq_valid.eq(0), mask_ptr.eq(0), row_ptr.eq(0),
                         masks_left.eq(Mux(cv.dense | ~cv.skip, 0, cv.groups * n_segs)),
                         rows_base.eq(Mux(cv.skip, cv.groups * n_segs, 0)),
                         last_mask.eq(ones >> (~cv.windows[:lg_w] + 1)[:lg_w])]
            m.d.sync += [self.busy.eq(1), g.eq(0), feeding.eq(cv.groups != 0),
                         f1_valid.eq(0), sb_base.eq(cv.sb_base), syn_count.eq(0),
                         old.eq(ins), old_pending.eq(keep),
                         out_k.eq(Mux(keep, out_k + fire, 0)),
                         tail.eq(Cat(self.busy & fire & (out_k + 1 == cp.groups),
                                     self.busy & pend & ~fire & (out_k == cp.groups)))]
        with m.Else():
            m.d.sync += tail.eq(Cat(finishing_old, tail[0]))
            with m.If(finishing_old):
                m.d.sync += [old_pending.eq(0), out_k.eq(0)]
            with m.Elif(fire):
                m.d.sync += out_k.eq(out_k + 1)
            with m.If(self.busy & ~feeding & ~f1_valid & ~old_pending & (out_k == cp.groups)
                      & ~pend & ~tail.any()):
                m.d.sync += self.busy.eq(0)
        return m
