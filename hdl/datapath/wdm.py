"""The weight decoding module (WDM, thesis §4.2.2, docs/architecture.md §3).

Per PE: two lookup tables (each the codebook of a quantization region the PE's
weights come from: one decodes a COMPUTE's weights while the next chunk's is
loaded into the other), loaded through their own port, and a decoder that turns the
``tm`` slot codes of a beat into int16 weights each cycle: 4- and 8-bit codes
are looked up, 16-bit codes pass through as raw weights, lanes outside the beat
are 0.  It sits after the SSM (SB → SSM → WDM → PEFU): the SSM picks the beat's
codes out of the packed SB word, so the WDM decodes ``tm`` lanes per cycle, not
the ``16 * tm`` slots of a whole word (picking then decoding equals decoding
then picking).  The golden twin is :func:`golden.twins.wdm.lookup`.

Generated Verilog (``python -m hdl.generate wdm --tm TM``), module ``wdm``:

``lut`` (in, ready = 1)    ``addr`` (``log2 LUT_SIZE`` bits), ``value`` (signed 16), ``half``
                            (which table): one table write; with ``lanes`` > 1 a
                            write of ``lanes`` consecutive entries from ``addr`` (a
                            multiple of ``lanes``), ``value[lanes]`` and ``en`` (the
                            entries written): a memory word's entries at once
``i`` (in)                  ``code[tm]`` (:func:`code_width` bits each, the slot's value in the
                            low bits), ``valid`` (``tm`` bits: the beat's lanes),
                            ``slot`` (0: 4-bit, 1: 8-bit, 2: 16-bit), ``table`` (which
                            table decodes the beat), ``side`` (passed through unchanged)
``o`` (out)                 ``weight[tm]`` signed 16 (0 where ``valid`` is 0), ``side``

A table write takes effect for beats taken on ``i`` after it (a write at the
edge that takes a beat is not seen by that beat).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.contract.isa import Slot
from golden.contract.packing import SLOT_WIDTHS, check_widths
from golden.contract.params import check_choice, check_pow2, clog2
from golden.twins.wdm import LUT_SIZE
from golden.twins.wdm import table_depth as golden_table_depth
from hdl.registry import TM, register

__all__ = ["WDM", "code_width", "table_depth", "lut_layout"]


def code_width(widths):
    """Bits of a slot code between the SSM and the WDM: the widest slot supported."""
    return max(check_widths(widths))


def table_depth(widths):
    """Entries of each of a lane's two tables (:func:`golden.twins.wdm.table_depth`)."""
    return golden_table_depth(check_widths(widths))


def lut_layout(lanes=1):
    """One table write: the entry, its value, which of the two tables; with ``lanes``
    > 1, ``lanes`` entries from ``addr`` (``value[lanes]``, ``en``: which)."""
    check_pow2("lanes", lanes, 1, LUT_SIZE)
    if lanes == 1:
        return data.StructLayout({"addr": unsigned(clog2(LUT_SIZE)), "value": signed(16),
                                  "half": 1})
    return data.StructLayout({"addr": unsigned(clog2(LUT_SIZE)),
                              "value": data.ArrayLayout(signed(16), lanes),
                              "en": unsigned(lanes), "half": 1})


class WDM(wiring.Component):
    """Weight decoder: a beat's ``tm`` slot codes to int16 weights via a LUT per lane.

    Parameters
    ----------
    tm : int
        Lanes (multipliers) per PE, a power of two in 1..64.
    widths : tuple of int
        Slot widths the decoder supports, a non-empty subset of (4, 8, 16).
        Each lane reads its own copy of the tables (a memory with one read
        port; ``tables`` times :func:`table_depth` entries, the table the high
        address bit); 16 bits only: no table.
    tables : int
        Tables per lane, 1 or 2 (``lut_tables`` of the configuration); with one,
        ``table`` and a write's ``half`` are ignored.
    side : shape or None
        Shape of the ``side`` field carried from ``i`` to ``o`` unchanged.
    lanes : int
        Entries a table write carries (:func:`lut_layout`): the load unit's
        memory word's, so a table loads at a word a cycle; each lane's tables
        are then rows of ``lanes`` entries, the code's low bits picking one.

    Attributes
    ----------
    latency : int
        Edges from taking a beat to offering its weights (1: the table read;
        the output is combinational from that stage's registers).
    """

    def __init__(self, *, tm, widths=SLOT_WIDTHS, side=None, tables=2, lanes=1):
        self._tm = check_pow2("tm", tm, 1, 64)
        self._lanes = check_pow2("lanes", lanes, 1, LUT_SIZE)
        self._widths = check_widths(widths)
        self._tables = check_choice("tables", tables, (1, 2))
        self._depth = table_depth(self._widths)
        self._code_width = code_width(self._widths)
        self._side = side
        tm = self._tm
        fields = {"code": data.ArrayLayout(unsigned(self._code_width), tm),
                  "valid": unsigned(tm), "slot": Slot, "table": 1}
        out_fields = {"weight": data.ArrayLayout(signed(16), tm)}
        if side is not None:
            fields["side"] = side
            out_fields["side"] = side
        self.input_layout = data.StructLayout(fields)
        self.output_layout = data.StructLayout(out_fields)
        self.lut_layout = lut_layout(lanes)
        super().__init__({
            "lut": In(stream.Signature(self.lut_layout)),
            "i": In(stream.Signature(self.input_layout)),
            "o": Out(stream.Signature(self.output_layout)),
        })

    @property
    def latency(self):
        return 1

    @property
    def parameters(self):
        return {"tm": self._tm, "widths": list(self._widths), "lut_size": self._depth,
                "tables": self._tables, "lanes": self._lanes,
                "code_width": self._code_width, "latency": self.latency,
                "slot_codes": {str(s.value): s.bits for s in Slot}}

    def elaborate(self, platform):
        m = Module()
        tm = self._tm
        m.d.comb += self.lut.ready.eq(1)  # a table write never waits
        addr, value, half = self.lut.payload.addr, self.lut.payload.value, self.lut.payload.half

        # One stage, a: the tables read, the slot code, the lanes, the raw codes
        # and the side band in registers; the weights chosen by the slot code
        # are combinational from them (the consumer, the PEFU, registers its
        # input first).
        a_valid = Signal()
        a_free = ~a_valid | self.o.ready
        take = self.i.valid & a_free
        m.d.comb += self.i.ready.eq(a_free)
        a_slot = Signal(Slot, reset_less=True)
        a_lanes = Signal(tm, reset_less=True)
        a_code = Signal(self.input_layout.members["code"], reset_less=True)
        if self._side is not None:
            a_side = Signal(self._side, reset_less=True)
            m.d.comb += self.o.payload.side.eq(a_side)
        with m.If(a_free):
            m.d.sync += a_valid.eq(self.i.valid)
        with m.If(take):
            m.d.sync += [a_slot.eq(self.i.payload.slot), a_lanes.eq(self.i.payload.valid)]
            if 16 in self._widths:
                m.d.sync += a_code.eq(self.i.payload.code)
            if self._side is not None:
                m.d.sync += a_side.eq(self.i.payload.side)
        m.d.comb += self.o.valid.eq(a_valid)
        weights = self.o.payload.weight

        # The tables: one memory per lane (all written together) with a
        # synchronous read port, read with the code at the edge that takes the
        # beat and held while stage a stalls.  A 4-bit code addresses the first
        # 16 entries, as golden.twins.wdm.lookup does; the table bit is the
        # address's top bit.
        looked = []
        L = min(self._lanes, self._depth) if self._depth else 1    # entries a row
        if self._depth and self._lanes > 1:
            # Rows of L entries: a write fills a row's entries ``en`` names; a read
            # takes a row, the code's low bits (registered with the beat) its entry.
            width, lb = clog2(self._depth), clog2(L)
            a_low = Signal(tm * lb, reset_less=True)     # (L >= 2: lb >= 1)
            with m.If(take):
                m.d.sync += a_low.eq(Cat(*(self.i.payload.code[k][:lb] for k in range(tm))))
            en = self.lut.payload.en
            values = self.lut.payload.value
            for k in range(tm):
                mem = Memory(shape=data.ArrayLayout(signed(16), L),
                             depth=self._tables * self._depth // L, init=[])
                m.submodules[f"lut{k}"] = mem
                wr = mem.write_port(granularity=1)
                rd = mem.read_port()
                w_top = [half] if self._tables == 2 else []
                r_top = [self.i.payload.table] if self._tables == 2 else []
                m.d.comb += [wr.addr.eq(Cat(addr[lb:width], *w_top)),
                             wr.en.eq(Mux(self.lut.valid & (addr < self._depth), en[:L], 0)),
                             rd.addr.eq(Cat(self.i.payload.code[k][lb:width], *r_top)),
                             rd.en.eq(take)]
                for j in range(L):
                    m.d.comb += wr.data[j].eq(values[j])
                looked.append(rd.data[a_low.word_select(k, lb)])
        elif self._depth:
            width = clog2(self._depth)
            for k in range(tm):
                mem = Memory(shape=signed(16), depth=self._tables * self._depth, init=[])
                m.submodules[f"lut{k}"] = mem
                wr = mem.write_port()
                rd = mem.read_port()
                w_top = [half] if self._tables == 2 else []
                r_top = [self.i.payload.table] if self._tables == 2 else []
                m.d.comb += [wr.addr.eq(Cat(addr[:width], *w_top)), wr.data.eq(value),
                             wr.en.eq(self.lut.valid & (addr < self._depth)),
                             rd.addr.eq(Cat(self.i.payload.code[k][:width], *r_top)),
                             rd.en.eq(take)]
                looked.append(rd.data)
        for k in range(tm):
            choice = looked[k] if looked else 0
            if 16 in self._widths:
                raw = a_code[k].as_signed()
                choice = raw if not looked else Mux(a_slot == Slot.W16, raw, choice)
            m.d.comb += weights[k].eq(Mux(a_lanes[k], choice, 0))
        return m


def _build(*, tm):
    return WDM(tm=tm)


register("wdm", _build,
         help="weight decoder: per-PE LUT per lane, a beat's Tm 4/8/16-bit slot codes per cycle",
         options=(TM,))
