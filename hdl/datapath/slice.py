"""A composed sparse datapath slice: NSM → SSM sequencer → H-tree → Tn PEs.

One tile of a sparse FC layer: the NSM selects (neuron, synapse) pairs of a
group of ``tn`` outputs that share a synapse bitmap, the sequencer splits the
beats into SSM steps, the H-tree broadcasts them, and every PE (SB → SSM → WDM
→ PEFU) computes its output.  Golden twin: :func:`golden.twins.fc.sparse_fc_group`.

Ports (module ``slice`` from ``python -m hdl.generate slice --tn TN --tm TM``):

``i``, ``neurons`` (in)   the NSM's (:mod:`hdl.datapath.nsm`)
``tile`` (in)             ``sb_base``, ``slot``, ``table`` per tile (:mod:`hdl.datapath.ssm`)
``sb_write`` (in)         ``pe``, ``addr``, ``data``: one SB word write (ready = 1)
``lut`` (in)              ``pe``, ``addr``, ``value``, ``half``, ``broadcast`` (every PE's):
                          one LUT write (ready = 1)
``bias`` (in)             ``bias[tn]``, ``shift``, ``activation`` per tile, taken at its end
``o`` (out)               ``tn`` int16 outputs per tile, all PEs together
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.contract.fixed import ACTIVATIONS
from golden.contract.isa import Slot
from golden.contract.packing import SLOT_WIDTHS
from golden.contract.params import check_int, check_pow2, clog2
from hdl.datapath.htree import HTree
from hdl.datapath.logic import tree_reduce
from hdl.datapath.nsm import NSM
from hdl.datapath.pe import PE, sb_addr_width
from hdl.datapath.pefu import ACTIVATION_WIDTH
from hdl.datapath.ssm import SSMSequencer
from hdl.datapath.wdm import lut_layout
from hdl.registry import TM, TN, register

__all__ = ["SparseSlice", "write_layouts", "tile_layout", "bias_layout", "output_layout"]


def write_layouts(*, tn, tm, sb_depth, lut_lanes=1):
    """``(sb_write, lut_write)``: one SB word to PE ``pe`` at ``addr``; one LUT entry
    (``lut_lanes`` entries, :func:`hdl.datapath.wdm.lut_layout`) to table ``half`` of
    PE ``pe``, or of every PE with ``broadcast`` (the slice's ``sb_write`` and
    ``lut`` payloads, the load unit's)."""
    pe_bits = max(1, clog2(tn))
    return (data.StructLayout({"pe": unsigned(pe_bits), "addr": unsigned(sb_addr_width(sb_depth)),
                               "data": unsigned(64 * tm)}),
            data.StructLayout({"pe": unsigned(pe_bits), **lut_layout(lut_lanes).members,
                               "broadcast": 1}))


def tile_layout(*, sb_depth):
    """A tile's configuration: its first SB word, the slot width, the WDM's table."""
    return data.StructLayout({"sb_base": unsigned(sb_addr_width(sb_depth)), "slot": Slot,
                              "table": 1})


def bias_layout(*, tn):
    """A tile's output stage: per PE its bias, the shift and the activation."""
    return data.StructLayout({"bias": data.ArrayLayout(signed(32), tn), "shift": unsigned(5),
                              "activation": unsigned(ACTIVATION_WIDTH)})


def output_layout(*, tn):
    """A tile's ``tn`` outputs."""
    return data.ArrayLayout(signed(16), tn)


class SparseSlice(wiring.Component):
    """NSM, SSM sequencer, H-tree and ``tn`` PEs: one sparse FC tile.

    Parameters
    ----------
    tn, tm : int
        PEs and multipliers per PE (powers of two; tm ≥ 2).
    sb_depth : int
        Words per PE synapse buffer.
    window : int or None
        NSM window (default ``16 * tm``).
    widths : tuple of int
        WDM slot widths.
    lut_tables : int
        The WDM's lookup tables per lane (1 or 2).
    lut_lanes : int
        Entries a table write carries (the load unit's memory word's).
    compact : bool
        Small parts: its stream register stages without skid registers
        (:func:`hdl.datapath.skid.stream_stage`), the PEFUs without their operand
        register (:class:`hdl.datapath.pe.PE`).
    activations : tuple of str
        The PEFUs' activations (:class:`hdl.datapath.pefu.PEFU`).
    """

    def __init__(self, *, tn, tm, sb_depth=64, window=None, widths=SLOT_WIDTHS,
                 index_width=16, max_fanin=1 << 16, lut_tables=2, lut_lanes=1, compact=False,
                 activations=ACTIVATIONS):
        self._tn = check_pow2("tn", tn, 1, 64)
        self._tm = check_pow2("tm", tm, 2, 64)
        self._sb_depth = check_int("sb_depth", sb_depth, 2, 1 << 16)
        self._window = window
        self._widths = tuple(widths)
        self._index_width = index_width
        self._max_fanin = max_fanin
        self._lut_tables = lut_tables
        self._lut_lanes = lut_lanes
        self._compact = compact
        self._activations = activations
        #: high in a cycle in which an SSM step enters the PEs (a performance probe)
        self.step_taken = Signal()
        #: the NSM and the sequencer are empty: what is left of a tile is the
        #: H-tree and PE pipeline, a fixed latency
        self.front_idle = Signal()
        self._addr_width = sb_addr_width(self._sb_depth)
        # (the NSM keeps its output's skid register when compact: the sequencer
        # takes a beat over several cycles, and the NSM's stages move on when it
        # is taken; a register slice there cost a cycle on some programs)
        self._nsm = NSM(tm=self._tm, window=window, index_width=index_width)
        sb_write, lut_write = write_layouts(tn=self._tn, tm=self._tm, sb_depth=self._sb_depth,
                                            lut_lanes=lut_lanes)
        super().__init__({
            "i": In(stream.Signature(self._nsm.window_layout)),
            "neurons": In(stream.Signature(self._nsm.neurons_layout)),
            "tile": In(stream.Signature(tile_layout(sb_depth=self._sb_depth))),
            "sb_write": In(stream.Signature(sb_write)),
            "lut": In(stream.Signature(lut_write)),
            "bias": In(stream.Signature(bias_layout(tn=self._tn))),
            "o": Out(stream.Signature(output_layout(tn=self._tn))),
        })

    @property
    def parameters(self):
        return {"tn": self._tn, "tm": self._tm, "sb_depth": self._sb_depth,
                "window": self._nsm.window, "widths": list(self._widths),
                "addr_width": self._addr_width}

    def elaborate(self, platform):
        m = Module()
        tn = self._tn
        m.submodules.nsm = nsm = self._nsm
        m.submodules.seq = seq = SSMSequencer(tm=self._tm, index_width=self._index_width,
                                              addr_width=self._addr_width, compact=self._compact)
        m.submodules.htree = htree = HTree(seq.step_layout, tn=tn, compact=self._compact)
        pes = [PE(tm=self._tm, sb_depth=self._sb_depth, widths=self._widths,
                  max_fanin=self._max_fanin, lut_tables=self._lut_tables,
                  lut_lanes=self._lut_lanes, compact=self._compact,
                  activations=self._activations) for _ in range(tn)]
        for k, pe in enumerate(pes):
            m.submodules[f"pe{k}"] = pe

        wiring.connect(m, wiring.flipped(self.i), nsm.i)
        wiring.connect(m, wiring.flipped(self.neurons), nsm.neurons)
        wiring.connect(m, nsm.o, seq.i)
        wiring.connect(m, wiring.flipped(self.tile), seq.tile)
        wiring.connect(m, seq.o, htree.i)

        # The H-tree's leaves go to the PEs in lockstep: one valid, all readies ANDed.
        m.d.comb += htree.o.ready.eq(tree_reduce(lambda a, b: a & b,
                                                 [pe.step.ready for pe in pes]))
        m.d.comb += self.step_taken.eq(htree.o.valid & htree.o.ready)
        m.d.comb += self.front_idle.eq(nsm.idle & seq.idle)
        bias_wanted = tree_reduce(lambda a, b: a & b, [pe.bias.ready for pe in pes])
        out_valid = tree_reduce(lambda a, b: a & b, [pe.o.valid for pe in pes])
        m.d.comb += [self.bias.ready.eq(bias_wanted), self.o.valid.eq(out_valid),
                     self.sb_write.ready.eq(1), self.lut.ready.eq(1)]
        for k, pe in enumerate(pes):
            m.d.comb += [
                pe.step.valid.eq(htree.o.valid),
                pe.step.payload.eq(htree.o.payload[k]),
                pe.sb_write.valid.eq(self.sb_write.valid & (self.sb_write.payload.pe == k)),
                pe.sb_write.payload.addr.eq(self.sb_write.payload.addr),
                pe.sb_write.payload.data.eq(self.sb_write.payload.data),
                pe.lut.valid.eq(self.lut.valid & ((self.lut.payload.pe == k) |
                                                  self.lut.payload.broadcast)),
                pe.lut.payload.addr.eq(self.lut.payload.addr),
                pe.lut.payload.value.eq(self.lut.payload.value),
                pe.lut.payload.half.eq(self.lut.payload.half),
                *([pe.lut.payload.en.eq(self.lut.payload.en)] if self._lut_lanes > 1 else []),
                # Lockstep fork of the tile's biases and join of the outputs.
                pe.bias.valid.eq(self.bias.valid & bias_wanted),
                pe.bias.payload.bias.eq(self.bias.payload.bias[k]),
                pe.bias.payload.shift.eq(self.bias.payload.shift),
                pe.bias.payload.activation.eq(self.bias.payload.activation),
                pe.o.ready.eq(self.o.ready & out_valid),
                self.o.payload[k].eq(pe.o.payload),
            ]
        return m


register("slice", lambda *, tn, tm: SparseSlice(tn=tn, tm=tm),
         help="composed sparse slice: NSM, SSM sequencer, H-tree, Tn x (SB, SSM, WDM, PEFU)",
         options=(TN, TM), in_all=False)
