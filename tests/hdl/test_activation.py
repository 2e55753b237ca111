"""The PEFU's activation stage (``hdl.datapath.activation.PWL``) against its golden rule
over every int16 input, for every activation code, one input per cycle; and the
small parts' stage without sigmoid and tanh the same for identity and ReLU."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.contract.activation import ACT_FRAC
from golden.contract.fixed import ACTIVATIONS, output_stage
from hdl.datapath.activation import PWL


@pytest.mark.parametrize("activation, subset", [
    *((a, ACTIVATIONS) for a in ACTIVATIONS),
    ("identity", ("identity", "relu")), ("relu", ("identity", "relu")), ("relu", ("relu",)),
    ("tanh", ("relu", "tanh"))])
def test_every_int16_input(activation, subset):
    xs = np.arange(-32768, 32768, dtype=np.int64)
    # The golden output stage with shift 0 and no bias is the activation alone.
    want = output_stage(xs, 0, 0, activation)
    dut = PWL(subset)
    code = ACTIVATIONS.index(activation)
    got, first = [], []

    async def bench(ctx):
        ctx.set(dut.code, code)
        for k in range(len(xs) + PWL.latency):
            if k < len(xs):
                ctx.set(dut.valid, 1)
                ctx.set(dut.x, int(xs[k]))
            else:
                ctx.set(dut.valid, 0)
            *_, ov, y = await ctx.tick().sample(dut.o_valid, dut.y)
            if ov:
                got.append(int(y))
                if not first:
                    first.append(k)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    got = np.array(got)
    assert len(got) == len(xs)
    assert first == [PWL.latency]     # (the same latency with or without sigmoid and tanh)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{activation} of {subset} at f={ACT_FRAC}: x={xs[bad[0]]} gives "
                           f"{got[bad[0]]}, "
                           f"golden {want[bad[0]]} ({bad.size} inputs differ)")
