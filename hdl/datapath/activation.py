"""The PEFU's activation stage: identity, ReLU, and the piecewise-linear sigmoid
and tanh of :func:`golden.contract.activation.pwl` at :data:`golden.contract.activation.ACT_FRAC`
fractional bits, from a table (thesis: the PE functional unit applies the
nonlinear function).

``PWL()``: a three-stage pipeline that never stalls.  In: ``valid``, ``x`` (the
saturated int16 output of the shift stage), ``code`` (``golden.contract.fixed.ACTIVATIONS``).
Out, ``latency`` = 3 cycles later: ``o_valid``, ``y`` (int16).

Stage 1 finds the segment (a constant shift: the format is fixed) and reads the
segment's base ``b_i`` and step ``d_i = b_{i+1} - b_i`` from a 32-entry table per
function; stage 2 multiplies ``d_i * t`` (``t`` the offset inside the segment;
``|d_i| < 2**7``, ``t < w``: a shift-and-add, no DSP); stage 3 interpolates
``b_i + (d_i * t + w/2) >> log2 w`` and clamps outside the table's range
(ECP5 timing: the product and the sum in one stage were the PEFU's longest
path).  Identity and ReLU ride through all three stages.

``PWL(activations=("identity", "relu"))`` (small parts,
``AccelConfig.activations``) leaves out the functions not named: without
sigmoid and tanh, no tables and no interpolation, only the three stages'
registers of the identity/ReLU result (the same latency).  A code not named
gives an unspecified result: the compiler emits none.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.contract.activation import ACT_FRAC, RANGE, SEGMENTS, table
from golden.contract.fixed import ACTIVATIONS, NONLINEAR
from golden.contract.params import check_subset

__all__ = ["PWL", "ACTIVATION_WIDTH"]

#: Width of the activation code field.
ACTIVATION_WIDTH = 2
assert len(ACTIVATIONS) <= 1 << ACTIVATION_WIDTH


class PWL(wiring.Component):
    latency = 3

    def __init__(self, activations=ACTIVATIONS):
        self._activations = check_subset("activations", activations, ACTIVATIONS)
        self._nonlinear = [name for name in NONLINEAR if name in self._activations]
        super().__init__({"valid": In(1), "x": In(signed(16)), "code": In(ACTIVATION_WIDTH),
                          "o_valid": Out(1), "y": Out(signed(16))})

    def elaborate(self, platform):
        m = Module()
        relu = ACTIVATIONS.index("relu")
        x = self.x

        # Stage 1: segment, table read, offset; identity/ReLU result alongside.
        s_valid = Signal()
        s_code = Signal(ACTIVATION_WIDTH, reset_less=True)
        s_plain = Signal(signed(16), reset_less=True)
        tables = {name: table(name, ACT_FRAC) for name in self._nonlinear}
        if not tables:            # identity and ReLU only: their result through three stages
            valid, y = self.valid, Mux((self.code == relu) & x[-1], 0, x)
            for k in range(self.latency):
                nvalid, ny = Signal(name=f"p{k}_valid"), Signal(signed(16), name=f"p{k}_y",
                                                                 reset_less=True)
                m.d.sync += [nvalid.eq(valid), ny.eq(y)]
                valid, y = nvalid, ny
            m.d.comb += [self.o_valid.eq(valid), self.y.eq(y)]
            return m
        shift_max = max(w.bit_length() - 1 for _, w in tables.values())
        d_max = max(int(abs(int(b[i + 1]) - int(b[i]))) for b, _ in tables.values()
                    for i in range(SEGMENTS))
        s_b = Signal(signed(17), reset_less=True)
        s_d = Signal(signed(d_max.bit_length() + 1), reset_less=True)
        s_t = Signal(unsigned(shift_max), reset_less=True)
        s_low = Signal(reset_less=True)
        s_high = Signal(reset_less=True)
        s_first = Signal(signed(17), reset_less=True)
        s_last = Signal(signed(17), reset_less=True)
        m.d.sync += [s_valid.eq(self.valid), s_code.eq(self.code),
                     s_plain.eq(Mux((self.code == relu) & x[-1], 0, x))]
        shifts = {}
        for name in self._nonlinear:
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

        # Stage 2: the product d * t, a shift-and-add over t's few bits (too small
        # for a DSP block, which Yosys would otherwise spend on it: one per PE);
        # the rest of stage 1 rides along.
        p_valid = Signal()
        p_prod = Signal(signed(len(s_d) + len(s_t) + 1), reset_less=True)
        p_code, p_plain = Signal.like(s_code), Signal.like(s_plain)
        p_b, p_low, p_high = Signal.like(s_b), Signal.like(s_low), Signal.like(s_high)
        p_first, p_last = Signal.like(s_first), Signal.like(s_last)
        m.d.sync += [p_valid.eq(s_valid),
                     p_prod.eq(sum(Mux(s_t[k], s_d << k, 0) for k in range(len(s_t)))),
                     p_code.eq(s_code), p_plain.eq(s_plain), p_b.eq(s_b), p_low.eq(s_low),
                     p_high.eq(s_high), p_first.eq(s_first), p_last.eq(s_last)]

        # Stage 3: round, shift and add the base; clamp outside the range; choose by code.
        interp = {}
        for name in self._nonlinear:
            shift = shifts[name]
            interp[name] = p_b + ((p_prod + (1 << shift >> 1)) >> shift)
        y = Signal(signed(17))
        m.d.comb += y.eq(p_plain)
        for name in self._nonlinear:
            with m.If(p_code == ACTIVATIONS.index(name)):
                m.d.comb += y.eq(Mux(p_low, p_first, Mux(p_high, p_last, interp[name])))
        y_out = Signal(signed(16), reset_less=True)   # (data: only o_valid needs the reset)
        m.d.comb += self.y.eq(y_out)
        m.d.sync += [self.o_valid.eq(p_valid), y_out.eq(y)]
        return m
