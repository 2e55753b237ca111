"""A skid buffer: a stream register slice whose ``ready`` is a register too.

Between two pipelines it cuts both combinational paths a stream carries:
``valid``/``payload`` forward (the output is a register) and ``ready``
backward (``i.ready`` is "the skid register is empty", a flip-flop).  A beat
offered while the output stalls waits in the skid register, so the producer
learns of the stall one cycle late without losing or repeating a beat.
Latency one edge, throughput one beat per cycle.  Components whose output is
already a register use it as that register: the same latency, and the
consumer's ``ready`` no longer reaches into their logic.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Register slice for a stream of ``shape`` (a ``lib.data`` layout, say).

    Members
    -------
    i : ``In(stream.Signature(shape))``   ``ready`` is a register
    o : ``Out(stream.Signature(shape))``  ``valid`` and ``payload`` are registers
    """

    def __init__(self, shape):
        self._shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

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
