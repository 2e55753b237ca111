"""The Encoder (thesis §4.2.1, docs/architecture.md §3): output neurons to direct indexing.

Takes ``window`` (default ``4 * tn``) output neurons at a time, and emits their
nonzeros, up to ``tn`` per cycle, with the window's bitmap (1 where nonzero).
A window with ``z`` nonzeros takes ``max(1, ceil(z / tn))`` cycles: an all-zero
window still emits one (empty) beat, so that its bitmap reaches memory.
Golden twin: :func:`golden.twins.encoder.beats` / :func:`golden.twins.encoder.encode`.

Generated Verilog (``python -m hdl.generate encoder --tn TN``), module ``encoder``:

``i`` (in)   ``value[window]`` signed 16, ``last`` (final window of the vector)
``o`` (out)  ``valid[tn]`` (lane mask, lanes filled from 0), ``value[tn]``,
             ``bitmap[window]`` (the window's, on every beat), ``first`` (first beat
             of a window), ``end`` (final beat of a window), ``last`` (final beat
             of a final window)
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.contract.params import check_int, check_pow2, clog2
from hdl.datapath.logic import apply_levels, lane_onehots, onehot_select, sklansky_levels, tree_or
from hdl.registry import TN, register

__all__ = ["Encoder"]


class Encoder(wiring.Component):
    """Zero-skipping compressor of output neurons.

    Parameters
    ----------
    tn : int
        Nonzeros per output beat, a power of two in 1..64.
    window : int
        Neurons per input window, a power of two, ``tn <= window <= 256``; default ``4 * tn``.
    width : int
        Neuron width (signed), 2..32; 16 in the fixed-point contract.

    Members
    -------
    i : ``In(stream.Signature(...))``   a window of neurons and ``last``
    o : ``Out(stream.Signature(...))``  nonzeros, lane mask, bitmap, ``first``, ``end``,
        ``last``

    Attributes
    ----------
    latency : int
        Edges from taking a window to handing its first beat to a ready consumer.
    """

    def __init__(self, *, tn, window=None, width=16):
        self._tn = check_pow2("tn", tn, 1, 64)
        window = 4 * self._tn if window is None else window
        self._window = check_pow2("window", window, self._tn, 256)
        self._width = check_int("width", width, 2, 32)
        W = self._window
        self.input_layout = data.StructLayout({
            "value": data.ArrayLayout(signed(self._width), W), "last": 1})
        self.beat_layout = data.StructLayout({
            "valid": unsigned(self._tn),
            "value": data.ArrayLayout(signed(self._width), self._tn),
            "bitmap": unsigned(W),
            "first": 1,
            "end": 1,
            "last": 1,
        })
        super().__init__({
            "i": In(stream.Signature(self.input_layout)),
            "o": Out(stream.Signature(self.beat_layout)),
        })

    @property
    def latency(self):
        return 4

    @property
    def parameters(self):
        return {"tn": self._tn, "window": self._window, "width": self._width,
                "latency": self.latency}

    def elaborate(self, platform):
        m = Module()
        W, tn = self._window, self._tn
        cw = clog2(W + 1)

        # Stage a: register the window and its nonzero flags.
        a_valid = Signal()
        a_value = Signal(data.ArrayLayout(signed(self._width), W), reset_less=True)
        a_nz = Signal(W, reset_less=True)
        a_last = Signal(reset_less=True)

        # Stage d (drain): ranks of the nonzeros, emitted tn per cycle.
        d_valid = Signal()
        d_value = Signal(data.ArrayLayout(signed(self._width), W), reset_less=True)
        d_nz = Signal(W, reset_less=True)
        d_rank = [Signal(cw, name=f"d_rank{p}", reset_less=True) for p in range(W)]
        d_last = Signal(reset_less=True)
        beat = Signal(range(W // tn + 1))
        # The nonzeros from this beat on (``rem``) and whether this is the window's
        # last beat (``d_final``) are registers, counted down as beats go: the
        # handshake that enables the stages' wide registers does no arithmetic.
        # They are counted in a window's first cycle in stage d (``d_known`` low),
        # from its registered ranks: the window's first beat leaves a cycle later
        # (ECP5 timing: no prefix tree and compare in one cycle).
        rem = Signal(cw)
        d_final = Signal()
        d_known = Signal()

        o_free = ~self.o.valid | self.o.ready
        emit = d_valid & d_known & o_free
        finish = emit & d_final
        d_take = ~d_valid | finish
        # A window is taken only into an empty stage a: ``i.ready`` is a register
        # and stage a's wide registers load on the producer's ``valid`` alone, so
        # the consumer's ``o.ready`` reaches neither the producer nor them (ECP5
        # timing; a window handed on meets a window moving into stage d a cycle
        # later than it would with a pass-through ready).
        a_take = ~a_valid

        m.d.comb += self.i.ready.eq(a_take)
        # The nonzeros' ranks: a Sklansky prefix sum, its first half of levels
        # (the larger half: the later levels add wider sums and fan out further)
        # before stage a's registers (``a_ps``), the rest before stage d's.
        levels = sklansky_levels(W)
        split = (len(levels) + 1) // 2
        nz_in = [self.i.payload.value[p] != 0 for p in range(W)]
        ps_in = apply_levels(nz_in, levels[:split], cw)
        a_ps = [Signal(min(split + 1, cw), name=f"a_ps{p}", reset_less=True) for p in range(W)]
        with m.If(a_take):
            m.d.sync += a_valid.eq(self.i.valid)
        with m.Elif(d_take):
            m.d.sync += a_valid.eq(0)
        with m.If(a_take & self.i.valid):
            m.d.sync += [a_value.eq(self.i.payload.value), a_last.eq(self.i.payload.last)]
            m.d.sync += [a_nz[p].eq(nz_in[p]) for p in range(W)]
            m.d.sync += [a_ps[p].eq(ps_in[p]) for p in range(W)]

        inclusive = apply_levels(a_ps, levels[split:], cw)
        with m.If(d_take):
            m.d.sync += d_valid.eq(a_valid)
        with m.If(d_take & a_valid):
            m.d.sync += [d_value.eq(a_value), d_nz.eq(a_nz), d_last.eq(a_last)]
            # (the rank of position p: the nonzeros before it)
            m.d.sync += [d_rank[p].eq(inclusive[p - 1] if p else 0) for p in range(W)]
        m.d.sync += d_known.eq(~(d_take & a_valid))
        with m.If(~d_known):
            total = (d_rank[W - 1] + d_nz[W - 1])[:cw]
            # (an empty window takes one beat, as does a window of up to tn nonzeros)
            m.d.sync += [rem.eq(total), d_final.eq(total <= tn)]

        # Each lane's value: the AND-OR of the positions whose one-hot lane it
        # is (ECP5 timing: no encoded position and multiplexer after the rank
        # compare).  The one-hot lanes are registers, found for the next beat: for
        # the first in the window's first cycle in stage d (while its nonzeros
        # are counted), for each next one as a beat goes; so no rank compare
        # comes before the AND-OR and the output register.
        # (the next beat's number a register beside ``beat``: no carry chain
        # before the rank compares; ECP5 timing at Tn = Tm = 4, 10.5 ns)
        beat1 = Signal(range(W // tn + 2), init=1)        # beat + 1
        hot_beat = Mux(d_known, beat1, 0)
        hot_next = lane_onehots(m, d_nz, d_rank, hot_beat, tn, name="d_hot_next")
        hot = [Signal(tn, name=f"d_hot{p}") for p in range(W)]
        with m.If(~d_known | emit):
            m.d.sync += [h.eq(n) for h, n in zip(hot, hot_next)]
        lane_valid = [tree_or(h[k] for h in hot) for k in range(tn)]
        flat = d_value.as_value()
        values = [flat.word_select(p, self._width) for p in range(W)]
        lane_value = [onehot_select(hot, values, k) for k in range(tn)]
        with m.If(emit):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.bitmap.eq(d_nz),
                self.o.payload.first.eq(beat == 0),
                self.o.payload.end.eq(d_final),
                self.o.payload.last.eq(d_last & d_final),
            ]
            for k in range(tn):
                m.d.sync += [self.o.payload.valid[k].eq(lane_valid[k]),
                             self.o.payload.value[k].eq(lane_value[k])]
            m.d.sync += [beat.eq(Mux(finish, 0, beat1)), beat1.eq(Mux(finish, 1, beat1 + 1))]
            with m.If(~d_final):
                m.d.sync += [rem.eq(rem - tn), d_final.eq(rem <= 2 * tn)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


def _build(*, tn):
    return Encoder(tn=tn)


register("encoder", _build,
         help="Encoder: 4*Tn output neurons per window to nonzeros (Tn per cycle) and a bitmap",
         options=(TN,))
