"""The control plane's interfaces, as ``lib.wiring`` signatures.

* :func:`mem_read` — a memory read channel: read requests out (a word address
  each), read data in (one per request, in request order); both ``lib.stream``.
  The controller's program fetch and the load unit each have one; the top
  switches them onto its memory port (:class:`ReadSwitch`).
* :func:`mem_write` — write requests out (address and data).
* :func:`issue` — an instruction from the controller to a unit: a stream of
  instruction words (the unit's ``ready`` says it can take one; the controller,
  having seen it, hands the word over the cycle after, from its issue
  register, and the unit takes it) and the unit's ``busy`` back for the
  scoreboard; the compute unit's also carries ``older_busy`` (an earlier
  COMPUTE still draining behind it).
* :func:`comb_read` — an asynchronous read of a buffer (address out, data in
  the same cycle).
"""

from amaranth.hdl import Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from golden.contract.isa import WORD_BITS

__all__ = ["read_request", "read_data", "write_request", "mem_read", "mem_write", "issue",
           "comb_read", "ReadSwitch", "StreamFIFO"]


def read_request():
    return data.StructLayout({"addr": unsigned(32)})


def read_data(width):
    return data.StructLayout({"data": unsigned(width)})


def write_request(width):
    return data.StructLayout({"addr": unsigned(32), "data": unsigned(width)})


def mem_read(width):
    """A memory read channel of ``width``-bit words (seen from the reader)."""
    return wiring.Signature({"req": Out(stream.Signature(read_request())),
                             "resp": In(stream.Signature(read_data(width)))})


def mem_write(width):
    """Memory write requests of ``width``-bit words (seen from the writer)."""
    return stream.Signature(write_request(width))


def issue(*, drains=False):
    """Controller → unit (seen from the controller)."""
    members = {"instr": Out(stream.Signature(unsigned(WORD_BITS))), "busy": In(1)}
    if drains:
        members["older_busy"] = In(1)
    return wiring.Signature(members)


def comb_read(addr_width, shape):
    """An asynchronous buffer read (seen from the reader)."""
    return wiring.Signature({"addr": Out(addr_width), "data": In(shape)})


class ReadSwitch(wiring.Component):
    """Two readers (``a`` while ``sel_a``, else ``b``) onto one memory read channel
    ``o``.  Switching while a reader has reads in flight is the user's business
    (the controller fetches only while no unit runs).  Both see the read data;
    ``a`` sees them valid only while selected, ``b`` always: ``b`` must take none
    while ``a`` is selected (the load unit takes a datum only for a read it
    requested, and has none in flight during the fetch), so its response path,
    a wide register's enable, does not start at ``sel_a`` (ECP5 timing: at
    Tn = Tm = 4 the controller's state → the load unit's word assembly, 12.8 ns)."""

    def __init__(self, width):
        super().__init__({"a": In(mem_read(width)), "b": In(mem_read(width)),
                          "sel_a": In(1), "o": Out(mem_read(width))})

    def elaborate(self, platform):
        m = Module()
        for sel, src in ((self.sel_a, self.a), (~self.sel_a, self.b)):
            with m.If(sel):
                m.d.comb += [self.o.req.valid.eq(src.req.valid),
                             self.o.req.payload.eq(src.req.payload),
                             src.req.ready.eq(self.o.req.ready),
                             self.o.resp.ready.eq(src.resp.ready)]
        m.d.comb += [self.a.resp.valid.eq(self.o.resp.valid & self.sel_a),
                     self.b.resp.valid.eq(self.o.resp.valid),
                     self.a.resp.payload.eq(self.o.resp.payload),
                     self.b.resp.payload.eq(self.o.resp.payload)]
        return m


class StreamFIFO(wiring.Component):
    """A FIFO of typed beats: ``i`` and ``o`` are streams of ``shape`` (a ``lib.data``
    layout, say), so its users never slice raw bits.  ``SyncFIFOBuffered`` inside:
    a beat written is readable two cycles later; ``depth`` beats.

    ``i.ready`` is a register, the FIFO's ``w_rdy`` cycle for cycle: the FIFO's
    inner level is counted beside it and "full" kept from its next value, so a
    producer whose handshake joins ``ready`` to other signals sees a flip-flop,
    not the level's compare (ECP5 timing: the compute unit's bias FIFO in its f1
    handshake, the enables of its window registers behind it)."""

    def __init__(self, shape, *, depth):
        self._shape, self._depth = shape, depth
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._shape).width
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=width, depth=self._depth)
        m.d.comb += [fifo.w_en.eq(self.i.valid), fifo.w_data.eq(self.i.payload),
                     self.o.valid.eq(fifo.r_rdy), self.o.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.o.ready)]
        if self._depth < 2:
            m.d.comb += self.i.ready.eq(fifo.w_rdy)
            return m
        # SyncFIFOBuffered: an inner FIFO of depth - 1 before an output register,
        # which takes the inner head when it is empty or read
        inner_depth = self._depth - 1
        inner = Signal(range(inner_depth + 1))
        full = Signal()
        write = self.i.valid & ~full
        inner_read = (inner != 0) & (~fifo.r_rdy | self.o.ready)
        # (full after this cycle: a write into the last free place and no read,
        # or full and no read; the level's compare on the register, the read's
        # handshake last: no adder between the consumer's ready and ``full``)
        m.d.sync += [inner.eq(inner + write - inner_read),
                     full.eq(~inner_read & Mux(write, inner == inner_depth - 1, full))]
        m.d.comb += self.i.ready.eq(~full)
        return m
