"""The weight decoding module (WDM, thesis §4.2.2, DESIGN §3).

Per PE: a lookup table (the codebook of the quantization region the PE's
weights come from), loaded through its own port, and a decoder that turns one
SB word of ``64 * tm`` bits per cycle into int16 weights: ``16 * tm`` 4-bit
slots or ``8 * tm`` 8-bit slots are looked up, ``4 * tm`` 16-bit slots pass
through as raw weights.  The word layout is :mod:`golden.packing`; the golden
twin is :func:`golden.wdm.decode`.

Generated Verilog (``python -m hdl.generate wdm --tm TM``), module ``wdm``:

``lut`` (in, always ready)  ``addr`` (8 bits), ``value`` (signed 16): one table write
``i`` (in)                  ``word`` (``64 * tm`` bits), ``slot`` (0: 4-bit, 1: 8-bit,
                            2: 16-bit slots), ``side`` (passed through unchanged)
``o`` (out)                 ``weight[16 * tm]`` signed 16 (lanes past the word's slot
                            count are 0), ``side``

A table write takes effect for words taken on ``i`` after it.
"""

from amaranth.hdl import Array, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.packing import SLOT_WIDTHS

from .params import check_int, check_pow2
from .registry import TM, register

__all__ = ["WDM", "SLOT_CODES", "slot_code"]

#: The ``slot`` field's encoding: code -> slot width in bits.
SLOT_CODES = {0: 4, 1: 8, 2: 16}


def slot_code(slot):
    """The hardware code of a slot width (4, 8 or 16)."""
    for code, width in SLOT_CODES.items():
        if width == slot:
            return code
    raise ValueError(f"slot must be one of 4, 8, 16, not {slot!r}")


class WDM(wiring.Component):
    """Weight decoder: one packed SB word per cycle to int16 weights via a LUT.

    Parameters
    ----------
    tm : int
        Multipliers per PE (a power of two in 1..64); a word is ``64 * tm`` bits.
    widths : tuple of int
        Slot widths the decoder supports, a non-empty subset of (4, 8, 16).  The
        LUT has 256 entries when 8-bit slots are supported, else 16; dropping
        8-bit slots saves most of the area.
    side : shape or None
        Shape of the ``side`` field carried from ``i`` to ``o`` unchanged.

    Attributes
    ----------
    latency : int
        Edges from taking a word to handing its weights to a ready consumer (1).
    """

    def __init__(self, *, tm, widths=SLOT_WIDTHS, side=None):
        self._tm = check_pow2("tm", tm, 1, 64)
        widths = tuple(sorted(set(widths)))
        if not widths or not set(widths) <= set(SLOT_WIDTHS):
            raise ValueError(f"widths must be a non-empty subset of (4, 8, 16), not {widths!r}")
        self._widths = widths
        self._lut_size = 256 if 8 in widths else 16
        self._side = side
        tm = self._tm
        fields = {"word": unsigned(64 * tm), "slot": unsigned(2)}
        out_fields = {"weight": data.ArrayLayout(signed(16), 16 * tm)}
        if side is not None:
            fields["side"] = side
            out_fields["side"] = side
        self.input_layout = data.StructLayout(fields)
        self.output_layout = data.StructLayout(out_fields)
        self.lut_layout = data.StructLayout({"addr": unsigned(8), "value": signed(16)})
        super().__init__({
            "lut": In(stream.Signature(self.lut_layout, always_ready=True)),
            "i": In(stream.Signature(self.input_layout)),
            "o": Out(stream.Signature(self.output_layout)),
        })

    @property
    def latency(self):
        return 1

    @property
    def parameters(self):
        return {"tm": self._tm, "widths": list(self._widths), "lut_size": self._lut_size,
                "latency": self.latency, "slot_codes": {str(k): v for k, v in SLOT_CODES.items()}}

    def elaborate(self, platform):
        m = Module()
        tm = self._tm
        table = Array(Signal(signed(16), name=f"lut{k}", reset_less=True)
                      for k in range(self._lut_size))
        with m.If(self.lut.valid):
            m.d.sync += table[self.lut.payload.addr[:self._lut_size.bit_length() - 1]].eq(
                self.lut.payload.value)

        word = self.i.payload.word
        slot = self.i.payload.slot
        take = self.i.valid & self.i.ready
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(take):
            m.d.sync += self.o.valid.eq(1)
            if self._side is not None:
                m.d.sync += self.o.payload.side.eq(self.i.payload.side)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        small = Array(table[:16])  # 4-bit indices address the first 16 entries
        for k in range(16 * tm):
            choices = {}
            if 4 in self._widths:
                choices[slot_code(4)] = small[word[4 * k: 4 * k + 4]]
            if 8 in self._widths and k < 8 * tm:
                choices[slot_code(8)] = table[word[8 * k: 8 * k + 8]]
            if 16 in self._widths and k < 4 * tm:
                choices[slot_code(16)] = word[16 * k: 16 * k + 16].as_signed()
            lane = Signal(signed(16), name=f"lane{k}")
            with m.Switch(slot):
                for code, value in choices.items():
                    with m.Case(code):
                        m.d.comb += lane.eq(value)
                with m.Default():
                    m.d.comb += lane.eq(0)
            with m.If(take):
                m.d.sync += self.o.payload.weight[k].eq(lane)
        return m


def _build(*, tm):
    return WDM(tm=tm)


register("wdm", _build,
         help="weight decoder: per-PE LUT, one 64*Tm-bit SB word of 4/8/16-bit slots per cycle",
         options=(TM,))
