"""A skid buffer: a stream register slice whose ``ready`` is a register too.

Between two pipelines it cuts both combinational paths a stream carries:
``valid``/``payload`` forward (the output is a register) and ``ready``
backward (``i.ready`` is "the skid register is empty", a flip-flop).  A beat
offered while the output stalls waits in the skid register, so the producer
learns of the stall one cycle late without losing or repeating a beat.
Latency one edge, throughput one beat per cycle.  Components whose output is
already a register use it as that register: the same latency, and the
consumer's ``ready`` no longer reaches into their logic.

Small parts (``AccelConfig.compact``) take a :class:`RegisterSlice` in its
place (:func:`stream_stage`): the output register alone, half the flip-flops
and no multiplexer, ``ready`` combinational from the consumer's.
"""

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PingPongBuffer", "RegisterSlice", "SkidBuffer", "stream_stage"]


class _StreamStage(wiring.Component):
    """A stream stage of ``shape``: ``i`` in, ``o`` out."""

    def __init__(self, shape):
        self._shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})


class SkidBuffer(_StreamStage):
    """Register slice for a stream of ``shape`` (a ``lib.data`` layout, say).

    Members
    -------
    i : ``In(stream.Signature(shape))``   ``ready`` is a register
    o : ``Out(stream.Signature(shape))``  ``valid`` and ``payload`` are registers
    """

    def elaborate(self, platform):
        m = Module()
        skid_valid = Signal()
        skid = Signal(self._shape, reset_less=True)
        # The output payload is a reset-less register too: only ``valid`` needs the
        # reset, and a payload on the domain's reset puts every bit of it on the
        # reset's net (ECP5 at 4 x 4: that net had reached a third of the
        # flip-flops, and was the router's most congested).
        out = Signal(self._shape, reset_less=True)
        m.d.comb += self.o.payload.eq(out)
        m.d.comb += self.i.ready.eq(~skid_valid)
        push = self.i.valid & ~skid_valid
        # The skid register follows the input while it is empty (its enable is a
        # register, not the producer's handshake: the payload's wide registers see
        # no logic of the producer's), so it holds the beat that skids.
        with m.If(~skid_valid):
            m.d.sync += skid.eq(self.i.payload)
        with m.If(~self.o.valid | self.o.ready):          # the output register frees
            with m.If(skid_valid):
                m.d.sync += [out.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [out.eq(self.i.payload), self.o.valid.eq(push)]
        with m.Elif(push):                                  # it holds: the beat skids
            m.d.sync += skid_valid.eq(1)
        return m


class PingPongBuffer(_StreamStage):
    """A skid buffer's twin, cycle for cycle (two beats held, ``i.ready`` while
    at most one is, one edge of latency), built as two slots read in turn, for
    wide payloads whose consumer's ``ready`` is late.

    A :class:`SkidBuffer`'s output register moves on with the consumer's
    ``ready``: every bit of a wide payload then waits on the consumer's
    handshake (ECP5: the NSM's ``neurons.ready`` on the 512 bits of the compute
    unit's neuron window at Tn = Tm = 4, a net of 513 loads).  Here each slot
    follows the input while it is empty, so its bits are enabled by one
    flip-flop (the slot's ``valid``), and the consumer's ``ready`` moves only
    the read pointer and the valid bits; the price is a two-way multiplexer
    (the read pointer) in front of the payload.

    Members
    -------
    i : ``In(stream.Signature(shape))``   ``ready`` is a register
    o : ``Out(stream.Signature(shape))``  ``valid`` is a register; ``payload`` a
        slot's register through the read pointer's multiplexer
    """
    def elaborate(self, platform):
        m = Module()
        slots = [Signal(self._shape, reset_less=True, name=f"slot{k}") for k in range(2)]
        full = [Signal(name=f"full{k}") for k in range(2)]
        wp = Signal()                     # the slot the next beat goes to
        rp = Signal()                     # the slot the output shows
        both = Signal()                   # both slots hold a beat (a register)
        for k in range(2):
            with m.If(~full[k]):
                m.d.sync += slots[k].eq(self.i.payload)
        m.d.comb += [self.i.ready.eq(~both),
                     self.o.payload.eq(Mux(rp, Value.cast(slots[1]), Value.cast(slots[0])))]
        push = self.i.valid & ~both
        pop = self.o.valid & self.o.ready
        # a beat held after this cycle: one pushed, two held, or one held not popped
        m.d.sync += self.o.valid.eq(push | both | (self.o.valid & ~pop))
        for k in range(2):
            with m.If(push & (wp == k)):
                m.d.sync += full[k].eq(1)
            with m.Elif(pop & (rp == k)):
                m.d.sync += full[k].eq(0)
        with m.If(push):
            m.d.sync += wp.eq(~wp)
        with m.If(pop):
            m.d.sync += rp.eq(~rp)
        # two held after this cycle: one held now and a push without a pop, or
        # two held and no pop
        m.d.sync += both.eq(Mux(both, ~pop, self.o.valid & push & ~pop))
        return m


class RegisterSlice(_StreamStage):
    """A stream's register stage without the skid register: latency one edge,
    a beat a cycle while the consumer takes them; ``i.ready`` is "the output
    register is empty or leaves this cycle", combinational from ``o.ready``.

    Seen from the consumer it is a :class:`SkidBuffer` whose producer keeps its
    beat offered: the same beats in the same cycles.  The producer sees a
    stall a cycle earlier (the beat the skid register would take waits in the
    producer), so a producer whose stages move on only as a beat is taken can
    offer its next beat later (the NSM in front of the SSM sequencer: a cycle
    on some programs, so it keeps its skid buffer).  Used where area matters
    more than the timing the skid register buys (``compact``, iCE40).

    Members
    -------
    i : ``In(stream.Signature(shape))``
    o : ``Out(stream.Signature(shape))``  ``valid`` and ``payload`` are registers
    """

    def elaborate(self, platform):
        m = Module()
        out = Signal(self._shape, reset_less=True)
        m.d.comb += [self.o.payload.eq(out), self.i.ready.eq(~self.o.valid | self.o.ready)]
        with m.If(self.i.ready):
            m.d.sync += [out.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        return m


def stream_stage(shape, *, compact=False):
    """A stream register stage of ``shape``: a :class:`SkidBuffer`, or with
    ``compact`` a :class:`RegisterSlice` (small parts)."""
    return (RegisterSlice if compact else SkidBuffer)(shape)
