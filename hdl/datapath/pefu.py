"""The PE functional unit (PEFU, thesis §4.2.4, docs/architecture.md §3).

``Tm`` multipliers, a pipelined ``Tm``-input adder tree, an exact accumulator
and the output stage (bias, round-half-up shift, int16 saturation, activation)
of :func:`golden.contract.fixed.output_stage`.  The golden twin is :mod:`golden.twins.pefu`.

Generated Verilog (``python -m hdl.generate pefu --tm TM``), module ``pefu``:

=================  =====  ==========================================================
port               dir    meaning
=================  =====  ==========================================================
``clk``, ``rst``   in     clock; synchronous active-high reset
``i__valid``       in     an input beat is offered
``i__ready``       out    the PEFU takes the beat at this clock edge
``i__payload``     in     the beat, fields packed LSB first in this order:
                          ``neuron[0..Tm-1]`` (signed ``neuron_width`` each),
                          ``weight[0..Tm-1]`` (signed ``weight_width`` each),
                          ``last`` (1: this beat closes the output),
                          ``bias`` (signed 32, at ``f_in + f_w``),
                          ``shift`` (unsigned ``shift_width``),
                          ``activation`` (2 bits, code of ``golden.contract.fixed.ACTIVATIONS``);
                          bias/shift/activation are read on the ``last`` beat only
``o__valid``       out    an output neuron is offered
``o__ready``       in     the consumer takes it at this clock edge
``o__payload``     out    the output neuron, signed 16
=================  =====  ==========================================================

The exact field offsets are in the ``pefu.json`` written beside the Verilog.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from golden.contract.fixed import ACTIVATIONS, INT16_MAX, INT16_MIN
from golden.contract.params import check_int, check_pow2, check_subset, clog2
from hdl.datapath.activation import ACTIVATION_WIDTH, PWL
from hdl.registry import TM, Option, register

__all__ = ["PEFU", "ACTIVATION_WIDTH", "pefu_latency"]


def pefu_latency(tm, operand_register=True):
    """Cycles from a beat into the PEFU to its output: the input register, the
    operand register beside the multipliers (unless left out), the product
    register, one register per adder-tree level, the accumulator, bias +
    rounding, shift, saturation, the activation's stages, the FIFO write and the
    FIFO's output register."""
    return 1 + bool(operand_register) + 1 + clog2(tm) + 1 + 1 + 1 + 1 + PWL.latency + 1 + 1


def pefu_input_layout(*, tm, neuron_width, weight_width, shift_width):
    """The payload of the PEFU input stream (shared with the PE datapath that feeds it)."""
    return data.StructLayout({
        "neuron":     data.ArrayLayout(signed(neuron_width), tm),
        "weight":     data.ArrayLayout(signed(weight_width), tm),
        "last":       1,
        "bias":       signed(32),
        "shift":      unsigned(shift_width),
        "activation": unsigned(ACTIVATION_WIDTH),
    })


class PEFU(wiring.Component):
    """PE functional unit: Tm multiply, adder tree, exact accumulate, output stage.

    Parameters
    ----------
    tm : int
        Multipliers per beat, a power of two in 2..256.
    neuron_width, weight_width : int
        Signed widths of the neuron and weight operands, 2..32 (16 in the
        fixed-point contract).
    max_fanin : int
        Largest number of products (beats × ``tm``) one output may accumulate,
        ≥ ``tm``, ≤ 2**24.  Sets the accumulator width so that no admissible
        sequence can wrap: ``acc_width = neuron_width + weight_width + clog2(max_fanin)``.
    shift_width : int
        Width of the ``shift`` field, 1..5 (shifts 0..2**shift_width - 1).
    activations : tuple of str
        The activations computed (default all of ``golden.contract.fixed.ACTIVATIONS``;
        small parts leave out sigmoid and tanh: :class:`hdl.datapath.activation.PWL`).
    operand_register : bool
        The operands registered again beside the multipliers (stage d, ECP5
        timing; default).  Small parts (``compact``) leave it out: a cycle less
        of latency.

    Members
    -------
    i : ``In(stream.Signature(input_layout))``
        Input beats; see the module docstring for the fields.
    o : ``Out(stream.Signature(signed(16)))``
        One output neuron per input beat with ``last`` set, in input order.

    Attributes
    ----------
    latency : int
        Clock edges from the edge that takes a ``last`` beat on ``i`` to the
        edge that hands its result to a ready consumer on ``o`` (``log2(tm) + 12``,
        one less without the operand register: :func:`pefu_latency`).
    acc_width : int
        Accumulator width in bits.

    Throughput is one beat per cycle while the consumer keeps up: the pipeline
    never stalls; ``i.ready`` is a credit check (outputs queued or in flight
    < output FIFO depth), so back-pressure on ``o`` never drops or duplicates
    a result and no combinational path runs from ``o.ready`` to ``i.ready``.

    Raises
    ------
    ValueError
        A parameter outside its allowed values; the message names it.
    """

    def __init__(self, *, tm, neuron_width=16, weight_width=16, max_fanin=1 << 16,
                 shift_width=5, activations=ACTIVATIONS, operand_register=True):
        self._tm = check_pow2("tm", tm, 2, 256)
        self._neuron_width = check_int("neuron_width", neuron_width, 2, 32)
        self._weight_width = check_int("weight_width", weight_width, 2, 32)
        self._max_fanin = check_int("max_fanin", max_fanin, self._tm, 1 << 24)
        self._shift_width = check_int("shift_width", shift_width, 1, 5)
        self._activations = check_subset("activations", activations, ACTIVATIONS)
        if not isinstance(operand_register, bool):
            raise ValueError(f"operand_register must be True or False, not {operand_register!r}")
        self._operand_register = operand_register

        self._levels = clog2(self._tm)
        self._prod_width = self._neuron_width + self._weight_width
        self._acc_width = self._prod_width + clog2(self._max_fanin)
        # acc + bias + rounding constant, each within `w` signed bits, fits in w + 2.
        self._sum_width = max(self._acc_width, 32, 1 << self._shift_width) + 2
        self._fifo_depth = self.latency + 2

        self.input_layout = pefu_input_layout(
            tm=self._tm, neuron_width=self._neuron_width,
            weight_width=self._weight_width, shift_width=self._shift_width)
        super().__init__({
            "i": In(stream.Signature(self.input_layout)),
            "o": Out(stream.Signature(signed(16))),
        })

    @property
    def tm(self):
        return self._tm

    @property
    def acc_width(self):
        return self._acc_width

    @property
    def latency(self):
        return pefu_latency(self._tm, self._operand_register)

    @property
    def parameters(self):
        """The construction parameters and derived figures, for ``pefu.json``."""
        return {
            "tm": self._tm,
            "neuron_width": self._neuron_width,
            "weight_width": self._weight_width,
            "max_fanin": self._max_fanin,
            "shift_width": self._shift_width,
            "acc_width": self._acc_width,
            "operand_register": self._operand_register,
            "latency": self.latency,
            "activations": list(self._activations),
        }

    def elaborate(self, platform):
        m = Module()
        tm = self._tm

        m.submodules.fifo = fifo = SyncFIFOBuffered(width=16, depth=self._fifo_depth)

        # Credit: outputs queued in the FIFO or still in the pipeline.  Taking a
        # beat only when a FIFO slot is guaranteed means the pipeline never stalls.
        # (``i.ready`` is a register beside the count, its next value a compare on
        # the count with the consumer's handshake one gate at the end: an output
        # given frees a place, and a beat is taken only while ready.  ECP5 timing:
        # the PEs' lockstep output handshake runs through no adder or compare;
        # at Tn = Tm = 4 it had, 10.4 ns)
        D = self._fifo_depth
        reserved = Signal(range(D + 1))
        ready = Signal(init=1)
        take = self.i.valid & self.i.ready
        give = self.o.valid & self.o.ready
        inc = take & self.i.payload.last
        m.d.comb += self.i.ready.eq(ready)
        m.d.sync += [reserved.eq(reserved + inc - give),
                     ready.eq(give | Mux(inc, reserved < D - 1, ready))]

        # Stage a: input register.
        a_valid = Signal()
        a = Signal(self.input_layout, reset_less=True)
        m.d.sync += a_valid.eq(take)
        with m.If(take):
            m.d.sync += a.eq(self.i.payload)

        # Data registers have no reset (valid bits do): less logic, same behaviour.
        # The side band (last, bias, shift, activation) rides along with each beat.
        side_layout = data.StructLayout({
            "last": 1, "bias": signed(32),
            "shift": unsigned(self._shift_width), "activation": unsigned(ACTIVATION_WIDTH),
        })

        def side_of(beat):
            return Cat(beat.last, beat.bias, beat.shift, beat.activation)

        # Stage d: the operands again, with no enable, so that the placer can put
        # them beside the multipliers.  ECP5 timing: Yosys maps `*` to a MULT18X18D
        # with no registers of its own; from `a` (placed by its sources, the
        # skid buffers) to the product register was 9.3-10.65 ns, up to 6.2 ns of
        # it routing, the most frequent late path at Tn = Tm = 4 and 100 MHz.
        if self._operand_register:
            d_valid = Signal()
            d_side = Signal(side_layout, reset_less=True)
            d_neuron = [Signal(signed(self._neuron_width), name=f"d_neuron{k}",
                               reset_less=True) for k in range(tm)]
            d_weight = [Signal(signed(self._weight_width), name=f"d_weight{k}",
                               reset_less=True) for k in range(tm)]
            m.d.sync += [d_valid.eq(a_valid), d_side.eq(side_of(a))]
            for k in range(tm):
                m.d.sync += [d_neuron[k].eq(a.neuron[k]), d_weight[k].eq(a.weight[k])]
        else:     # (small parts: the multipliers take the input register)
            d_valid, d_side = a_valid, side_of(a)
            d_neuron, d_weight = a.neuron, a.weight

        # Stage m: products.
        m_valid = Signal()
        m_side = Signal(side_layout, reset_less=True)
        # The product registers keep their reset: without it Yosys 0.70's
        # `synth_ice40 -dsp` folds the first adder-tree level into SB_MAC16s and
        # emits a broken netlist (half the DSPs, X in gate-level simulation).
        products = [Signal(signed(self._prod_width), name=f"m_prod{k}") for k in range(tm)]
        m.d.sync += [m_valid.eq(d_valid), m_side.eq(d_side)]
        for k in range(tm):
            m.d.sync += products[k].eq(d_neuron[k] * d_weight[k])

        # Stages t1..tL: one register level per adder-tree level.
        level, valid, side = products, m_valid, m_side
        for lvl in range(self._levels):
            width = self._prod_width + lvl + 1
            nxt = [Signal(signed(width), name=f"t{lvl + 1}_sum{k}", reset_less=True)
                   for k in range(len(level) // 2)]
            for k, s in enumerate(nxt):
                m.d.sync += s.eq(level[2 * k] + level[2 * k + 1])
            nvalid = Signal(name=f"t{lvl + 1}_valid")
            nside = Signal(side_layout, name=f"t{lvl + 1}_side", reset_less=True)
            m.d.sync += [nvalid.eq(valid), nside.eq(side)]
            level, valid, side = nxt, nvalid, nside
        (tree_sum,) = level

        # Stage c: the accumulator.  `fresh` marks that the next beat starts a new output.
        c_valid = Signal()
        c_side = Signal(side_layout, reset_less=True)
        acc = Signal(signed(self._acc_width), reset_less=True)
        fresh = Signal(init=1)
        m.d.sync += [c_valid.eq(valid), c_side.eq(side)]
        with m.If(valid):
            m.d.sync += [
                acc.eq(Mux(fresh, 0, acc) + tree_sum),
                fresh.eq(side.last),
            ]

        # Stage r: acc + bias + rounding constant (1 << (shift - 1), or 0 for shift 0).
        r_valid = Signal()
        r_shift = Signal(self._shift_width, reset_less=True)
        r_act = Signal(ACTIVATION_WIDTH, reset_less=True)
        r_sum = Signal(signed(self._sum_width), reset_less=True)
        rounding = (Const(1, 1) << c_side.shift) >> 1
        m.d.sync += [
            r_valid.eq(c_valid & c_side.last),
            r_shift.eq(c_side.shift),
            r_act.eq(c_side.activation),
            r_sum.eq(acc + c_side.bias + rounding),
        ]

        # Stage s: the arithmetic shift.
        s_valid = Signal()
        s_act = Signal(ACTIVATION_WIDTH, reset_less=True)
        shifted = Signal(signed(self._sum_width), reset_less=True)
        m.d.sync += [s_valid.eq(r_valid), s_act.eq(r_act), shifted.eq(r_sum >> r_shift)]

        # Stage y: int16 saturation (in range when the bits from 15 up are all equal).
        high = shifted[15:]
        y = Signal(signed(16))
        with m.If(~high.any() | high.all()):
            m.d.comb += y.eq(shifted[:16])
        with m.Elif(shifted[-1]):
            m.d.comb += y.eq(INT16_MIN)
        with m.Else():
            m.d.comb += y.eq(INT16_MAX)
        y_valid = Signal()
        y_reg = Signal(signed(16), reset_less=True)
        y_act = Signal(ACTIVATION_WIDTH, reset_less=True)
        m.d.sync += [y_valid.eq(s_valid), y_reg.eq(y), y_act.eq(s_act)]

        # Stages p1, p2: the activation (identity, ReLU, piecewise-linear sigmoid/tanh).
        m.submodules.act = act = PWL(self._activations)
        m.d.comb += [act.valid.eq(y_valid), act.x.eq(y_reg), act.code.eq(y_act),
                     fifo.w_en.eq(act.o_valid), fifo.w_data.eq(act.y)]

        m.d.comb += [
            self.o.valid.eq(fifo.r_rdy),
            self.o.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.o.ready),
        ]
        return m


def _build(*, tm, max_fanin=1 << 16):
    return PEFU(tm=tm, max_fanin=max_fanin)


register("pefu", _build,
         help="PE functional unit: Tm multipliers, adder tree, accumulator, output stage",
         options=(TM, Option("--max-fanin", "max_fanin", 1 << 16,
                             "largest fan-in (products per output) without wrap")))
