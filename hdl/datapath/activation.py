"""The PEFU's activation stage: identity, ReLU, and the piecewise-linear sigmoid
and tanh of :func:`golden.contract.activation.pwl` at :data:`golden.contract.activation.ACT_FRAC`
fractional bits, from a table (thesis: the PE functional unit applies the
nonlinear function).

``PWL()``: a two-stage pipeline that never stalls.  In: ``valid``, ``x`` (the
saturated int16 output of the shift stage), ``code`` (``golden.contract.fixed.ACTIVATIONS``).
Out, ``latency`` = 2 cycles later: ``o_valid``, ``y`` (int16).

Stage 1 finds the segment (a constant shift: the format is fixed) and reads the
segment's base ``b_i`` and step ``d_i = b_{i+1} - b_i`` from a 32-entry table per
function; stage 2 interpolates ``b_i + (d_i * t + w/2) >> log2 w`` (``t`` the
offset inside the segment; ``|d_i| < 2**7``, ``t < w``: a shift-and-add, no DSP)
and clamps outside the table's range.  Identity and ReLU ride through both stages.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.activation import ACT_FRAC, RANGE, SEGMENTS, table
from golden.contract.fixed import ACTIVATIONS, NONLINEAR

__all__ = ["PWL", "ACTIVATION_WIDTH"]

#: Width of the activation code field.
ACTIVATION_WIDTH = 2
assert len(ACTIVATIONS) <= 1 << ACTIVATION_WIDTH


class PWL(wiring.Component):
    latency = 2

    def __init__(self):
        super().__init__({"valid": In(1), "x": In(signed(16)), "code": In(ACTIVATION_WIDTH),
                          "o_valid": Out(1), "y": Out(signed(16))})

    def elaborate(self, platform):
        m = Module()
        relu = ACTIVATIONS.index("relu")
        x = self.x

        # Stage 1: segment, table read, offset; identity/ReLU result alongside.
        s_valid = Signal()
        s_code = Signal(ACTIVATION_WIDTH)
        s_plain = Signal(signed(16))
        tables = {name: table(name, ACT_FRAC) for name in NONLINEAR}
        shift_max = max(w.bit_length() - 1 for _, w in tables.values())
        d_max = max(int(abs(int(b[i + 1]) - int(b[i]))) for b, _ in tables.values()
                    for i in range(SEGMENTS))
        s_b = Signal(signed(17))
        s_d = Signal(signed(d_max.bit_length() + 1))
        s_t = Signal(unsigned(shift_max))
        s_low = Signal()
        s_high = Signal()
        s_first = Signal(signed(17))
        s_last = Signal(signed(17))
        m.d.sync += [s_valid.eq(self.valid), s_code.eq(self.code),
                     s_plain.eq(Mux((self.code == relu) & x[-1], 0, x))]
        shifts = {}
        for name in NONLINEAR:
            b, width = tables[name]
            shift = width.bit_length() - 1
            shifts[name] = shift
            lo = -(RANGE[name] << ACT_FRAC)
            u = Signal(signed(18), name=f"{name}_u")
            seg = Signal(range(SEGMENTS), name=f"{name}_seg")
            m.d.comb += [u.eq(x - lo), seg.eq(u[shift:shift + 5])]
            bases = Array(Const(int(b[i]), signed(17)) for i in range(SEGMENTS))
            steps = Array(Const(int(b[i + 1]) - int(b[i]), signed(17)) for i in range(SEGMENTS))
            with m.If(self.code == ACTIVATIONS.index(name)):
                m.d.sync += [s_b.eq(bases[seg]), s_d.eq(steps[seg]),
                             s_t.eq(u[:shift]), s_low.eq(x < lo), s_high.eq(x >= -lo),
                             s_first.eq(int(b[0])), s_last.eq(int(b[SEGMENTS]))]

        # Stage 2: interpolate, clamp outside the range, choose by code.  The product
        # d * t is a shift-and-add over t's few bits: too small for a DSP block,
        # which Yosys would otherwise spend on it (one per PE).
        prod = Signal(signed(len(s_d) + len(s_t) + 1))
        m.d.comb += prod.eq(sum(Mux(s_t[k], s_d << k, 0) for k in range(len(s_t))))
        interp = {}
        for name in NONLINEAR:
            shift = shifts[name]
            interp[name] = s_b + ((prod + (1 << shift >> 1)) >> shift)
        y = Signal(signed(17))
        m.d.comb += y.eq(s_plain)
        for name in NONLINEAR:
            with m.If(s_code == ACTIVATIONS.index(name)):
                m.d.comb += y.eq(Mux(s_low, s_first, Mux(s_high, s_last, interp[name])))
        m.d.sync += [self.o_valid.eq(s_valid), self.y.eq(y)]
        return m
