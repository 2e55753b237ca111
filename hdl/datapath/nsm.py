"""The neuron selector module (NSM, thesis §4.2.1, docs/architecture.md §3).

One NSM, shared by all PEs, takes a window of ``window`` (default ``16 * tm``)
positions of the neuron bitmap (NIBin) and the shared synapse bitmap (SIB),
ANDs them, ranks every set position among the set bits of each bitmap with a
pipelined parallel-prefix (Sklansky) popcount, and emits up to ``tm`` pairs per
cycle: the selected neuron value, its index into the compressed neurons and
the index into the compressed weights (0-based, running on across the windows
of a tile).  Golden twin: :func:`golden.twins.nsm.beats` / :func:`golden.twins.nsm.select`.

Costs.  A window with ``p > 0`` pairs takes ``ceil(p / tm)`` output cycles.  A
window with no pair emits nothing: it costs no compute cycle, only the one cycle
in which the drain stage reads and discards it (so the NSM reads at most one
window per cycle; behind a FIFO it runs ahead of the PEs while they are busy).
A tile whose final window holds no pair is closed by one empty beat with
``last`` set.

Generated Verilog (``python -m hdl.generate nsm --tm TM``), module ``nsm``:

``i`` (in)        ``neuron_bitmap[window]``, ``synapse_bitmap[window]``, ``last`` (final window
                  of the tile: the indices restart after it)
``neurons`` (in)  ``value[window]`` signed 16: the window's compressed neurons, the
                  first popcount(neuron_bitmap) entries meaningful; one payload per
                  window, taken when the window leaves the drain stage
``o`` (out)       ``valid[tm]`` (lane mask, lanes filled from 0), ``neuron[tm]``,
                  ``neuron_index[tm]``, ``synapse_index[tm]`` (unsigned ``index_width``),
                  ``last``
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.contract.params import check_int, check_pow2, clog2
from hdl.datapath.logic import apply_levels, lane_onehots, onehot_select, sklansky_levels, tree_or
from hdl.datapath.skid import SkidBuffer
from hdl.registry import TM, register

__all__ = ["NSM", "nsm_beat_layout", "window_layout", "neurons_layout"]


def window_layout(*, window):
    """One NSM window: the neuron and synapse bitmaps and ``last`` (final window of
    a tile)."""
    return data.StructLayout({"neuron_bitmap": unsigned(window),
                              "synapse_bitmap": unsigned(window), "last": 1})


def neurons_layout(*, window, neuron_width=16):
    """A window's compressed neurons (the first popcount(neuron bitmap) meaningful)."""
    return data.StructLayout({"value": data.ArrayLayout(signed(neuron_width), window)})


def nsm_beat_layout(*, tm, index_width, neuron_width=16):
    """The NSM's output beat (shared with the SSM sequencer that consumes it)."""
    return data.StructLayout({
        "valid":         unsigned(tm),
        "neuron":        data.ArrayLayout(signed(neuron_width), tm),
        "neuron_index":  data.ArrayLayout(unsigned(index_width), tm),
        "synapse_index": data.ArrayLayout(unsigned(index_width), tm),
        "last":          1,
    })


class NSM(wiring.Component):
    """Neuron selector: window AND, parallel-prefix ranks, up to Tm pairs per cycle.

    Parameters
    ----------
    tm : int
        Pairs per cycle, a power of two in 1..64.
    window : int
        Positions per window, a power of two, ``tm <= window <= 1024``; default ``16 * tm``.
    index_width : int
        Width of the neuron/synapse indices (positions of a tile < 2**index_width), 8..32.
    levels_per_stage : int
        Prefix-tree levels per register stage, 1..8 (default 2).

    Members
    -------
    i : ``In(stream.Signature(...))``  window bitmaps and ``last``
    neurons : ``In(stream.Signature(...))``  the window's compressed neurons
    o : ``Out(stream.Signature(nsm_beat_layout))``  selected pairs

    Raises
    ------
    ValueError
        A parameter outside its allowed values; the message names it.
    """

    def __init__(self, *, tm, window=None, index_width=16, levels_per_stage=2,
                 neuron_width=16):
        self._tm = check_pow2("tm", tm, 1, 64)
        window = 16 * self._tm if window is None else window
        self._window = check_pow2("window", window, self._tm, 1024)
        self._index_width = check_int("index_width", index_width, 8, 32)
        self._levels_per_stage = check_int("levels_per_stage", levels_per_stage, 1, 8)
        self._neuron_width = check_int("neuron_width", neuron_width, 2, 32)
        self._count_width = clog2(self._window + 1)
        self._prefix_levels = clog2(self._window)
        self._prefix_stages = -(-self._prefix_levels // self._levels_per_stage)

        W = self._window
        self.window_layout = window_layout(window=W)
        self.neurons_layout = neurons_layout(window=W, neuron_width=self._neuron_width)
        self.beat_layout = nsm_beat_layout(tm=self._tm, index_width=self._index_width,
                                           neuron_width=self._neuron_width)
        super().__init__({
            "i": In(stream.Signature(self.window_layout)),
            "neurons": In(stream.Signature(self.neurons_layout)),
            "o": Out(stream.Signature(self.beat_layout)),
        })
        #: no window in the NSM and no beat waiting at its output (a probe for the
        #: compute unit, which overlaps the next tile with this one's tail)
        self.idle = Signal()

    @property
    def tm(self):
        return self._tm

    @property
    def window(self):
        return self._window

    @property
    def latency(self):
        """Edges from taking a window on ``i`` to handing its first beat to a ready
        consumer (pipeline idle, neurons already offered)."""
        return 1 + self._prefix_stages + 1 + 2 + 1

    @property
    def parameters(self):
        return {"tm": self._tm, "window": self._window, "index_width": self._index_width,
                "levels_per_stage": self._levels_per_stage,
                "neuron_width": self._neuron_width,
                "prefix_stages": self._prefix_stages, "latency": self.latency}

    def elaborate(self, platform):
        m = Module()
        W, tm, cw, nw = self._window, self._tm, self._count_width, self._neuron_width
        lg_tm = clog2(tm)

        # --- stage p0: input register; then the prefix stages ---------------------
        # p0 holds the three bitmaps; stage s >= 1 holds, per bitmap, the running
        # counts after its share of the Sklansky levels (widths grow with the level).
        levels = sklansky_levels(W)
        n_stages = self._prefix_stages + 1
        valid = [Signal(name=f"p{s}_valid") for s in range(n_stages)]
        last = [Signal(name=f"p{s}_last", reset_less=True) for s in range(n_stages)]
        bits = [[Signal(W, name=f"p{s}_{b}", reset_less=True) for b in ("nb", "sb", "both")]
                for s in range(n_stages)]
        counts = [None]  # counts[s][b][p] for s >= 1

        # Advance logic: a stage loads when it is empty or its content moves on,
        # that is when a stage after it is empty (``bubble``, a register kept
        # from the next state of the valid bits) or the drain stage finishes a
        # window.  One gate after ``finish``: these enables reach every prefix
        # register, so no chain of them back from the drain stage.
        finish = Signal()
        d_valid = Signal()
        d_take = Signal()
        # The input's skid register: ``i.ready`` is a flip-flop ("the skid register
        # is empty"), so the producer's advance does not wait on this pipeline's.
        # A window offered while p0 cannot load waits there; p0 takes it first.
        in_skid_valid = Signal()
        in_skid = Signal(self.window_layout, reset_less=True)
        src_valid = in_skid_valid | self.i.valid
        src = Mux(in_skid_valid, in_skid.as_value(), self.i.payload.as_value())
        loads = [Signal(name=f"p{s}_load") for s in range(n_stages)]
        bubble = [Signal(init=1, name=f"p{s}_bubble") for s in range(n_stages)]
        v_next = [Signal(name=f"p{s}_valid_next") for s in range(n_stages)]
        d_next = Signal()
        for s in range(n_stages):
            m.d.comb += [loads[s].eq(bubble[s] | finish),
                         v_next[s].eq(Mux(loads[s], src_valid if s == 0 else valid[s - 1],
                                          valid[s]))]
            m.d.sync += bubble[s].eq(~Cat(*v_next[s:], d_next).all())
        m.d.comb += d_next.eq(Mux(d_take, valid[-1], d_valid))

        m.d.comb += self.i.ready.eq(~in_skid_valid)
        with m.If(loads[0]):
            m.d.sync += [valid[0].eq(src_valid), in_skid_valid.eq(0)]
        with m.Elif(self.i.valid & ~in_skid_valid):
            m.d.sync += in_skid_valid.eq(1)
        # (the skid register follows the input while empty: its enable is a
        # register, not p0's advance; ECP5 timing, 43 endpoints at 10.9 ns)
        with m.If(~in_skid_valid):
            m.d.sync += in_skid.eq(self.i.payload)
        with m.If(loads[0] & src_valid):
            src_view = self.window_layout(src)
            nb, sb = src_view.neuron_bitmap, src_view.synapse_bitmap
            m.d.sync += [bits[0][0].eq(nb), bits[0][1].eq(sb), bits[0][2].eq(nb & sb),
                         last[0].eq(src_view.last)]

        for s in range(1, n_stages):
            mine = levels[(s - 1) * self._levels_per_stage: s * self._levels_per_stage]
            if s == 1:
                prev = [[bits[0][b][p] for p in range(W)] for b in range(3)]
            else:
                prev = counts[s - 1]
            new = [apply_levels(prev[b], mine) for b in range(3)]
            regs = [[Signal(len(new[b][p]), name=f"p{s}_c{b}_{p}", reset_less=True)
                     for p in range(W)] for b in range(3)]
            counts.append(regs)
            with m.If(loads[s]):
                m.d.sync += [valid[s].eq(valid[s - 1]), last[s].eq(last[s - 1])]
                m.d.sync += [bits[s][b].eq(bits[s - 1][b]) for b in range(3)]
                for b in range(3):
                    m.d.sync += [regs[b][p].eq(new[b][p]) for p in range(W)]

        # --- the drain stage: one window, emitted tm pairs per cycle ---------------
        inc, last_bits = counts[-1], bits[-1]
        d_last = Signal(reset_less=True)
        d_both = Signal(W, reset_less=True)
        # Exclusive ranks within the window (flat, cw bits per position), and the totals.
        d_nrank = Signal(W * cw, reset_less=True)
        d_srank = Signal(W * cw, reset_less=True)
        d_brank = [Signal(cw, name=f"d_brank{p}", reset_less=True) for p in range(W)]
        d_pop_n = Signal(cw, reset_less=True)
        d_pop_s = Signal(cw, reset_less=True)
        beat = Signal(range(W // tm + 1))            # beats of this window emitted so far
        base_n = Signal(self._index_width)            # compressed-neuron index of the window
        base_s = Signal(self._index_width)            # compressed-weight index of the window

        # Beats a window needs: ceil(total / tm); one empty beat for an empty last
        # window.  Counted down in registers, so the drain's control is shallow:
        # d_beats (the window has a beat), d_final (the beat in hand is its last).
        n_new = Signal(range(W // tm + 2))
        total_new = inc[2][W - 1]
        m.d.comb += n_new.eq(Mux((total_new == 0) & last[-1], 1, (total_new + tm - 1) >> lg_tm))
        d_beats = Signal(reset_less=True)
        d_final = Signal(reset_less=True)
        d_left = Signal(range(W // tm + 2), reset_less=True)   # beats after the one in hand

        with m.If(d_take):
            m.d.sync += d_valid.eq(valid[-1])
        with m.If(d_take & valid[-1]):
            m.d.sync += [d_beats.eq(n_new != 0), d_final.eq(n_new <= 1),
                         d_left.eq(Mux(n_new == 0, 0, n_new - 1))]
            m.d.sync += [d_last.eq(last[-1]), d_both.eq(last_bits[2]),
                         d_pop_n.eq(inc[0][W - 1]), d_pop_s.eq(inc[1][W - 1])]
            for p in range(W):
                m.d.sync += [
                    d_nrank.word_select(p, cw).eq(inc[0][p] - last_bits[0][p]),
                    d_srank.word_select(p, cw).eq(inc[1][p] - last_bits[1][p]),
                    d_brank[p].eq(inc[2][p] - last_bits[2][p]),
                ]


        # --- stages e1, e2: a beat's lanes ----------------------------------------
        # The drain stage decodes, per position, the one-hot lane it goes to in the
        # beat in hand (lane_onehots); e1 OR-s each lane's ranks out of the
        # positions on it (from its own copy of the window's ranks, taken with the
        # window's first beat, as the drain stage moves on to the next window
        # while e1 and e2 finish this one); e2 reads the lanes' neuron values and
        # adds the window's bases.  Every window passes e1 and e2 once more at its
        # end (with its final beat, or alone for a window without pairs) to
        # release its neurons: e2, not the drain stage, waits for them.
        hot = lane_onehots(m, d_both, d_brank, beat, tm, name="d_hot")

        e1_valid, e2_valid = Signal(), Signal()
        e1_beat, e2_beat = Signal(reset_less=True), Signal(reset_less=True)  # a beat for o
        e1_end, e2_end = Signal(reset_less=True), Signal(reset_less=True)    # window's end
        e1_last, e2_last = Signal(reset_less=True), Signal(reset_less=True)
        e1_hot = [Signal(tm, name=f"e1_hot{p}", reset_less=True) for p in range(W)]
        e1_nrank = [Signal(cw, name=f"e1_nrank{p}", reset_less=True) for p in range(W)]
        e1_srank = [Signal(cw, name=f"e1_srank{p}", reset_less=True) for p in range(W)]
        e1_base_n = Signal(self._index_width, reset_less=True)
        e1_base_s = Signal(self._index_width, reset_less=True)
        e2_lane_valid = Signal(tm, reset_less=True)
        e2_nrank = [Signal(cw, name=f"e2_nrank{k}", reset_less=True) for k in range(tm)]
        e2_srank = [Signal(cw, name=f"e2_srank{k}", reset_less=True) for k in range(tm)]
        e2_base_n = Signal(self._index_width, reset_less=True)
        e2_base_s = Signal(self._index_width, reset_less=True)

        m.submodules.out = skid = SkidBuffer(self.beat_layout)
        e2_go = Signal()
        m.d.comb += e2_go.eq(e2_valid & self.neurons.valid & (~e2_beat | skid.i.ready))
        e2_free = ~e2_valid | e2_go
        e1_free = ~e1_valid | e2_free
        m.d.comb += self.neurons.ready.eq(e2_go & e2_end)

        emit = Signal()
        m.d.comb += [
            emit.eq(d_valid & e1_free),
            finish.eq(emit & d_final),
            d_take.eq(~d_valid | finish),
        ]

        with m.If(e1_free):
            m.d.sync += e1_valid.eq(emit)
        with m.If(emit):
            m.d.sync += [e1_beat.eq(d_beats), e1_end.eq(finish), e1_last.eq(d_last & finish),
                         e1_base_n.eq(base_n), e1_base_s.eq(base_s)]
            m.d.sync += [e1_hot[p].eq(hot[p]) for p in range(W)]
        with m.If(emit & (beat == 0)):
            m.d.sync += [e1_nrank[p].eq(d_nrank.word_select(p, cw)) for p in range(W)]
            m.d.sync += [e1_srank[p].eq(d_srank.word_select(p, cw)) for p in range(W)]

        with m.If(e2_free):
            m.d.sync += e2_valid.eq(e1_valid)
        with m.If(e2_free & e1_valid):
            m.d.sync += [e2_beat.eq(e1_beat), e2_end.eq(e1_end), e2_last.eq(e1_last),
                         e2_base_n.eq(e1_base_n), e2_base_s.eq(e1_base_s),
                         e2_lane_valid.eq(tree_or(e1_hot))]
            for k in range(tm):
                m.d.sync += [e2_nrank[k].eq(onehot_select(e1_hot, e1_nrank, k)),
                             e2_srank[k].eq(onehot_select(e1_hot, e1_srank, k))]

        # The output register is a skid buffer's: the consumer's ready stops there.
        values = self.neurons.payload.value.as_value()
        out = skid.i.payload
        m.d.comb += [skid.i.valid.eq(e2_go & e2_beat), out.last.eq(e2_last)]
        for k in range(tm):
            lv = e2_lane_valid[k]
            m.d.comb += [
                out.valid[k].eq(lv),
                out.neuron[k].eq(Mux(lv, values.word_select(e2_nrank[k], nw).as_signed(), 0)),
                out.neuron_index[k].eq(Mux(lv, e2_base_n + e2_nrank[k], 0)),
                out.synapse_index[k].eq(Mux(lv, e2_base_s + e2_srank[k], 0)),
            ]
        wiring.connect(m, skid.o, wiring.flipped(self.o))

        m.d.comb += self.idle.eq(~in_skid_valid & ~Cat(*valid).any() & ~d_valid & ~e1_valid &
                                 ~e2_valid & ~self.o.valid & skid.i.ready)

        with m.If(emit):
            m.d.sync += beat.eq(beat + 1)
        with m.If(emit & ~finish):           # (a finishing window loads the next one's)
            m.d.sync += [d_left.eq(d_left - 1), d_final.eq(d_left == 1)]
        with m.If(finish):
            m.d.sync += beat.eq(0)
            with m.If(d_last):
                m.d.sync += [base_n.eq(0), base_s.eq(0)]
            with m.Else():
                m.d.sync += [base_n.eq(base_n + d_pop_n), base_s.eq(base_s + d_pop_s)]
        return m


def _build(*, tm):
    return NSM(tm=tm)


register("nsm", _build,
         help="neuron selector: bitmap AND, prefix ranks, up to Tm (neuron, synapse) pairs "
              "per cycle",
         options=(TM,))
