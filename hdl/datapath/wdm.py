"""The weight decoding module (WDM, thesis §4.2.2, docs/architecture.md §3).

Per PE: a lookup table (the codebook of the quantization region the PE's
weights come from), loaded through its own port, and a decoder that turns one
SB word of ``64 * tm`` bits per cycle into int16 weights: ``16 * tm`` 4-bit
slots or ``8 * tm`` 8-bit slots are looked up, ``4 * tm`` 16-bit slots pass
through as raw weights.  The word layout is :mod:`golden.contract.packing`; the golden
twin is :func:`golden.twins.wdm.decode`.

Generated Verilog (``python -m hdl.generate wdm --tm TM``), module ``wdm``:

``lut`` (in, ready = 1)    ``addr`` (``log2 LUT_SIZE`` bits), ``value`` (signed 16): one table write
``i`` (in)                  ``word`` (``64 * tm`` bits), ``slot`` (0: 4-bit, 1: 8-bit,
                            2: 16-bit slots), ``side`` (passed through unchanged)
``o`` (out)                 ``weight[16 * tm]`` signed 16 (lanes past the word's slot
                            count are 0), ``side``

A table write takes effect for words taken on ``i`` after it (a write at the
edge that takes a word is not seen by that word).
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.contract.isa import Slot
from golden.contract.packing import SLOT_WIDTHS
from golden.contract.params import check_pow2, clog2
from golden.twins.wdm import LUT_SIZE
from hdl.registry import TM, register

__all__ = ["WDM"]


class WDM(wiring.Component):
    """Weight decoder: one packed SB word per cycle to int16 weights via a LUT.

    Parameters
    ----------
    tm : int
        Multipliers per PE (a power of two in 1..64); a word is ``64 * tm`` bits.
    widths : tuple of int
        Slot widths the decoder supports, a non-empty subset of (4, 8, 16).  The
        tables are memories with a read port per lane: 16 entries for the
        ``16 * tm`` 4-bit lanes, 256 for the ``8 * tm`` 8-bit lanes (each port a
        RAM copy after synthesis); dropping 8-bit slots saves most of the area.
    side : shape or None
        Shape of the ``side`` field carried from ``i`` to ``o`` unchanged.

    Attributes
    ----------
    latency : int
        Edges from taking a word to handing its weights to a ready consumer (2).
    """

    def __init__(self, *, tm, widths=SLOT_WIDTHS, side=None):
        self._tm = check_pow2("tm", tm, 1, 64)
        widths = tuple(sorted(set(widths)))
        if not widths or not set(widths) <= set(SLOT_WIDTHS):
            raise ValueError(f"widths must be a non-empty subset of (4, 8, 16), not {widths!r}")
        self._widths = widths
        self._lut_size = LUT_SIZE if 8 in widths else 16
        self._side = side
        tm = self._tm
        fields = {"word": unsigned(64 * tm), "slot": Slot}
        out_fields = {"weight": data.ArrayLayout(signed(16), 16 * tm)}
        if side is not None:
            fields["side"] = side
            out_fields["side"] = side
        self.input_layout = data.StructLayout(fields)
        self.output_layout = data.StructLayout(out_fields)
        self.lut_layout = data.StructLayout({"addr": unsigned(clog2(LUT_SIZE)),
                                             "value": signed(16)})
        super().__init__({
            "lut": In(stream.Signature(self.lut_layout)),
            "i": In(stream.Signature(self.input_layout)),
            "o": Out(stream.Signature(self.output_layout)),
        })

    @property
    def latency(self):
        return 2

    @property
    def parameters(self):
        return {"tm": self._tm, "widths": list(self._widths), "lut_size": self._lut_size,
                "latency": self.latency,
                "slot_codes": {str(s.value): s.bits for s in Slot}}

    def elaborate(self, platform):
        m = Module()
        tm = self._tm
        m.d.comb += self.lut.ready.eq(1)  # a table write never waits
        addr, value = self.lut.payload.addr, self.lut.payload.value

        word = self.i.payload.word
        # Two stages: a (the tables read, the slot code, the raw word, side band)
        # and the output register (the weights chosen by the slot code: the
        # table's read data does not go on to the consumer's logic).
        a_valid = Signal()
        o_free = ~self.o.valid | self.o.ready
        a_free = ~a_valid | o_free
        take = self.i.valid & a_free
        m.d.comb += self.i.ready.eq(a_free)
        o_slot = Signal(Slot, reset_less=True)
        o_word = Signal(64 * tm, reset_less=True)
        a_side = Signal(self._side, reset_less=True) if self._side is not None else None
        with m.If(a_free):
            m.d.sync += a_valid.eq(self.i.valid)
        with m.If(take):
            m.d.sync += o_slot.eq(self.i.payload.slot)
            if 16 in self._widths:
                m.d.sync += o_word.eq(word)
            if a_side is not None:
                m.d.sync += a_side.eq(self.i.payload.side)
        with m.If(o_free):
            m.d.sync += self.o.valid.eq(a_valid)
        weights = Signal(self.output_layout.members["weight"])
        with m.If(o_free & a_valid):
            m.d.sync += self.o.payload.weight.eq(weights)
            if a_side is not None:
                m.d.sync += self.o.payload.side.eq(a_side)

        # The tables are memories with one synchronous read port per lane: read
        # with the word at the edge that takes it, held while stage a stalls.
        # Yosys maps them to block or distributed RAM (one copy per read port)
        # instead of a multiplexer tree per lane.
        def table(depth, lanes, slot):
            # One single-read-port copy per lane, all written together (a memory
            # with dozens of read ports crashes Yosys 0.70's memory_libmap for ECP5).
            data_out = []
            for k in range(lanes):
                mem = Memory(shape=signed(16), depth=depth, init=[])
                m.submodules[f"lut{slot}_{k}"] = mem
                wr = mem.write_port()
                rd = mem.read_port()
                m.d.comb += [wr.addr.eq(addr[:clog2(depth)]), wr.data.eq(value),
                             wr.en.eq(self.lut.valid & (addr < depth)),
                             rd.addr.eq(word[slot * k: slot * k + slot]), rd.en.eq(take)]
                data_out.append(rd.data)
            return data_out

        nib = table(16, 16 * tm, 4) if 4 in self._widths else None
        byte = table(256, 8 * tm, 8) if 8 in self._widths else None
        for k in range(16 * tm):
            choices = {}
            if nib is not None:
                choices[Slot.W4] = nib[k]
            if byte is not None and k < 8 * tm:
                choices[Slot.W8] = byte[k]
            if 16 in self._widths and k < 4 * tm:
                choices[Slot.W16] = o_word[16 * k: 16 * k + 16].as_signed()
            with m.Switch(o_slot):
                for code, v in choices.items():
                    with m.Case(code):
                        m.d.comb += weights[k].eq(v)
        return m


def _build(*, tm):
    return WDM(tm=tm)


register("wdm", _build,
         help="weight decoder: per-PE LUT, one 64*Tm-bit SB word of 4/8/16-bit slots per cycle",
         options=(TM,))
