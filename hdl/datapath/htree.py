"""The H-tree (thesis §4.2.4, docs/architecture.md §3): pipelined binary broadcast to Tn PEs.

A binary tree of register copies: level ``l`` holds ``2**l`` copies of the beat
and each copy feeds two children, so no wire drives more than two loads and the
PE count scales without a long broadcast net.  A register level every
``levels_per_register`` tree levels (1: one per level).  Back-pressure is
applied to all leaves in lockstep: the leaves share one ``valid``/``ready``
pair, so a beat is handed to every PE at the same clock edge.  The root
register is a skid buffer's (:mod:`hdl.datapath.skid`): ``i.ready`` is a
register, the leaves' ready stops at the root.

Generated Verilog (``python -m hdl.generate htree --tn TN --tm TM``), module
``htree``, broadcasting the SSM sequencer's step (:mod:`hdl.datapath.ssm`):

``i`` (in)   one beat
``o`` (out)  ``payload[tn]``: leaf ``k``'s copy of the beat; one ``valid``/``ready``
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.contract.params import check_int, check_pow2, clog2
from hdl.datapath.skid import stream_stage
from hdl.registry import TM, TN, register

__all__ = ["HTree"]


class HTree(wiring.Component):
    """Pipelined binary broadcast of a stream to ``tn`` leaves, in lockstep.

    Parameters
    ----------
    shape : shape-castable
        The beat.
    tn : int
        Leaves, a power of two in 1..256.
    levels_per_register : int
        Tree levels per register stage, 1..8 (default 1).
    compact : bool
        Small parts: the root register without a skid register
        (:func:`hdl.datapath.skid.stream_stage`).

    Attributes
    ----------
    latency : int
        Register stages from ``i`` to ``o`` (the root register included).
    """

    def __init__(self, shape, *, tn, levels_per_register=1, compact=False):
        self._tn = check_pow2("tn", tn, 1, 256)
        self._lpr = check_int("levels_per_register", levels_per_register, 1, 8)
        self._shape = shape
        self._compact = compact
        self._levels = clog2(self._tn)
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(data.ArrayLayout(shape, self._tn))),
        })

    @property
    def latency(self):
        # The root register, then one register per `levels_per_register` levels.
        return 1 + -(-self._levels // self._lpr)

    @property
    def parameters(self):
        return {"tn": self._tn, "levels_per_register": self._lpr, "tree_levels": self._levels,
                "latency": self.latency}

    def elaborate(self, platform):
        m = Module()
        # The root register is a skid buffer's output register: ``i.ready`` is a
        # register too, so the leaves' lockstep ready (an AND over the PEs, back
        # through every stage) ends here instead of enabling the producer's
        # output (ECP5 timing at Tn = Tm = 4: the PEs -> the SSM sequencer's
        # output register, 10.3 ns).  The same latency and rate.
        m.submodules.root = root = stream_stage(self._shape, compact=self._compact)
        wiring.connect(m, wiring.flipped(self.i), root.i)
        # stages[s] = (valid bits, payload copies) of register stage s after the root.
        stages = []
        copies, valids = [root.o.payload], [root.o.valid]
        pending_levels = 0
        for lvl in range(1, self._levels + 1):
            # The tree level: each copy feeds two children.
            copies = [c for c in copies for _ in range(2)]
            valids = [v for v in valids for _ in range(2)]
            pending_levels += 1
            if pending_levels == self._lpr or lvl == self._levels:
                regs = [Signal(self._shape, name=f"l{lvl}_copy{k}", reset_less=True)
                        for k in range(len(copies))]
                rvalid = [Signal(name=f"l{lvl}_valid{k}") for k in range(len(copies))]
                stages.append((rvalid, regs, copies, valids))
                copies, valids = regs, rvalid
                pending_levels = 0

        # Lockstep advance, back to front: stage s loads when empty or when stage s+1 loads.
        loads = [Signal(name=f"s{s + 1}_load") for s in range(len(stages))]
        for s in reversed(range(len(stages))):
            rvalid = stages[s][0]
            moves_on = self.o.ready if s == len(stages) - 1 else loads[s + 1]
            m.d.comb += loads[s].eq(~rvalid[0] | moves_on)
        m.d.comb += root.o.ready.eq(loads[0] if stages else self.o.ready)
        for s, (rvalid, regs, srcs, svalids) in enumerate(stages):
            with m.If(loads[s]):
                for reg, src, rv, sv in zip(regs, srcs, rvalid, svalids):
                    m.d.sync += [reg.eq(src), rv.eq(sv)]
        leaf_valid, leaves = (stages[-1][0][0], stages[-1][1]) if stages else \
            (root.o.valid, [root.o.payload])
        m.d.comb += self.o.valid.eq(leaf_valid)
        for k in range(self._tn):
            m.d.comb += self.o.payload[k].eq(leaves[k])
        return m


def _build(*, tn, tm):
    from hdl.datapath.ssm import step_layout
    return HTree(step_layout(tm=tm), tn=tn)


register("htree", _build,
         help="H-tree: pipelined binary broadcast of the SSM step to Tn PEs, in lockstep",
         options=(TN, TM))
