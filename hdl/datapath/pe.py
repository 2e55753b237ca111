"""A processing element (thesis §4.2.1 "NFU", docs/architecture.md §3): SB → SSM → WDM → PEFU.

The PE takes SSM steps (from the H-tree), reads the step's word from its
synapse buffer (SB, an Amaranth ``lib.memory`` with a synchronous read port),
selects the beat's slot codes in its SSM, decodes them in its WDM, and feeds the
PEFU; the PEFU's ``last`` beat takes the output's bias, shift and activation
from the ``bias`` stream.  The SB and the LUT are written through their own
ports (ready is always 1) (the controller's loads).
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.contract.fixed import ACTIVATIONS
from golden.contract.packing import SLOT_WIDTHS
from golden.contract.params import check_int, check_pow2, clog2
from hdl.datapath.pefu import ACTIVATION_WIDTH, PEFU
from hdl.datapath.skid import stream_stage
from hdl.datapath.ssm import SSM, step_layout
from hdl.datapath.wdm import WDM, lut_layout

__all__ = ["PE", "bias_layout", "sb_write_layout", "sb_addr_width"]


def sb_addr_width(sb_depth):
    """The SB word address width of a PE with ``sb_depth`` words (at least 4 bits)."""
    return max(4, clog2(sb_depth))


def bias_layout(*, shift_width=5):
    """Per output: the bias (at ``f_in + f_w``), the output shift and the activation code."""
    return data.StructLayout({"bias": signed(32), "shift": unsigned(shift_width),
                              "activation": unsigned(ACTIVATION_WIDTH)})


def sb_write_layout(*, tm, addr_width):
    return data.StructLayout({"addr": unsigned(addr_width), "data": unsigned(64 * tm)})


class PE(wiring.Component):
    """SB + SSM + WDM + PEFU of one output neuron at a time.

    Parameters
    ----------
    tm : int
        Multipliers, a power of two in 1..64 (the PEFU needs ≥ 2).
    sb_depth : int
        SB words of ``64 * tm`` bits, 2..65536.
    widths : tuple of int
        Slot widths the WDM supports.
    max_fanin : int
        The PEFU's accumulator bound.
    lut_tables : int
        The WDM's lookup tables per lane (1 or 2).
    lut_lanes : int
        Entries a table write carries (:func:`hdl.datapath.wdm.lut_layout`).
    compact : bool
        Small parts: its stream register stages without skid registers
        (:func:`hdl.datapath.skid.stream_stage`) and the PEFU without its
        operand register (a cycle less of latency).
    activations : tuple of str
        The PEFU's activations (:class:`hdl.datapath.pefu.PEFU`).

    Attributes
    ----------
    addr_width : int
        SB word address width (``clog2(sb_depth)``, at least 4).
    """

    def __init__(self, *, tm, sb_depth=64, widths=SLOT_WIDTHS, max_fanin=1 << 16, lut_tables=2,
                 lut_lanes=1, compact=False, activations=ACTIVATIONS):
        self._tm = check_pow2("tm", tm, 2, 64)
        self._sb_depth = check_int("sb_depth", sb_depth, 2, 1 << 16)
        self._addr_width = sb_addr_width(self._sb_depth)
        self._widths = tuple(widths)
        self._max_fanin = max_fanin
        self._lut_tables = lut_tables
        self._lut_lanes = lut_lanes
        self._compact = compact
        self._activations = activations
        self.step_layout = step_layout(tm=self._tm, addr_width=self._addr_width)
        super().__init__({
            "step": In(stream.Signature(self.step_layout)),
            "sb_write": In(stream.Signature(sb_write_layout(tm=self._tm,
                                                            addr_width=self._addr_width))),
            "lut": In(stream.Signature(lut_layout(lut_lanes))),
            "bias": In(stream.Signature(bias_layout())),
            "o": Out(stream.Signature(signed(16))),
        })

    @property
    def addr_width(self):
        return self._addr_width

    def elaborate(self, platform):
        m = Module()
        tm = self._tm
        m.submodules.sb = sb = Memory(shape=unsigned(64 * tm), depth=self._sb_depth, init=[])
        wr = sb.write_port()
        rd = sb.read_port()
        m.submodules.ssm = ssm = SSM(tm=tm, addr_width=self._addr_width, widths=self._widths,
                                     compact=self._compact)
        m.submodules.wdm = wdm = WDM(tm=tm, widths=self._widths, tables=self._lut_tables,
                                     lanes=self._lut_lanes,
                                     side=data.StructLayout({
                                         "neuron": ssm.beat_layout.members["neuron"],
                                         "last": 1}))
        m.submodules.pefu = pefu = PEFU(tm=tm, max_fanin=self._max_fanin,
                                        activations=self._activations,
                                        operand_register=not self._compact)

        m.d.comb += [
            self.sb_write.ready.eq(1),  # SB writes never wait
            wr.addr.eq(self.sb_write.payload.addr),
            wr.data.eq(self.sb_write.payload.data),
            wr.en.eq(self.sb_write.valid),
        ]
        wiring.connect(m, wiring.flipped(self.lut), wdm.lut)

        # The steps come in through a skid buffer: ``step.ready`` is a register, so
        # the PE's back-pressure (PEFU credit → WDM → SSM → SB read) does not
        # reach the H-tree's lockstep advance (ECP5 timing; one edge of latency).
        m.submodules.step_in = step_in = stream_stage(self.step_layout, compact=self._compact)
        wiring.connect(m, wiring.flipped(self.step), step_in.i)
        step = step_in.o

        # Stage r: the SB read.  The read port's data follows the address of the
        # edge that loaded the stage and holds while the stage is stalled.
        r_valid = Signal()
        r_step = Signal(self.step_layout, reset_less=True)
        # The word read goes on through a skid buffer (stage q) before the SSM picks
        # its window out of it: no block RAM output (5.6 ns on the ECP5) before the
        # SSM's slot multiplexers, and the read enable does not wait on the SSM.
        m.submodules.sb_q = q = stream_stage(ssm.input_layout, compact=self._compact)
        r_load = ~r_valid | q.i.ready
        m.d.comb += [
            step.ready.eq(r_load),
            rd.addr.eq(step.payload.sb_addr),
            rd.en.eq(r_load),
            q.i.valid.eq(r_valid),
            q.i.payload.word.eq(rd.data),
            q.i.payload.side.eq(r_step),
        ]
        wiring.connect(m, q.o, ssm.i)
        with m.If(r_load):
            m.d.sync += [r_valid.eq(step.valid), r_step.eq(step.payload)]

        # The beat's codes to the WDM; its neurons and last flag ride along.
        sel = ssm.o.payload
        m.d.comb += [
            wdm.i.valid.eq(ssm.o.valid),
            wdm.i.payload.code.eq(sel.code),
            wdm.i.payload.valid.eq(sel.valid),
            wdm.i.payload.slot.eq(sel.slot),
            wdm.i.payload.table.eq(sel.table),
            wdm.i.payload.side.neuron.eq(sel.neuron),
            wdm.i.payload.side.last.eq(sel.last),
            ssm.o.ready.eq(wdm.i.ready),
        ]

        # Join: the output's last beat waits for its bias.  The biases come in
        # through a skid buffer too: ``bias.ready`` is a register and the bias
        # joined is one, so the join stays inside the PE (ECP5 timing: the slice's
        # lockstep fork of the biases no longer runs from one PE's PEFU credit
        # through every PE's join into the SSMs' output registers).
        m.submodules.bias_in = bias_in = stream_stage(bias_layout(), compact=self._compact)
        wiring.connect(m, wiring.flipped(self.bias), bias_in.i)
        bias = bias_in.o
        beat = wdm.o.payload
        has_bias = ~beat.side.last | bias.valid
        m.d.comb += [
            pefu.i.valid.eq(wdm.o.valid & has_bias),
            pefu.i.payload.neuron.eq(beat.side.neuron),
            pefu.i.payload.weight.eq(beat.weight),
            pefu.i.payload.last.eq(beat.side.last),
            pefu.i.payload.bias.eq(bias.payload.bias),
            pefu.i.payload.shift.eq(bias.payload.shift),
            pefu.i.payload.activation.eq(bias.payload.activation),
            wdm.o.ready.eq(pefu.i.ready & has_bias),
            bias.ready.eq(wdm.o.valid & beat.side.last & pefu.i.ready),
        ]
        wiring.connect(m, pefu.o, wiring.flipped(self.o))
        return m
