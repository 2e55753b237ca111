"""The PEFU's activation stage (``hdl.datapath.activation.PWL``) against its golden rule
over every int16 input, for every activation code, one input per cycle."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.contract.activation import ACT_FRAC
from golden.contract.fixed import ACTIVATIONS, output_stage
from hdl.datapath.activation import PWL


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_int16_input(activation):
    xs = np.arange(-32768, 32768, dtype=np.int64)
    # The golden output stage with shift 0 and no bias is the activation alone.
    want = output_stage(xs, 0, 0, activation)
    dut = PWL()
    code = ACTIVATIONS.index(activation)
    got = []

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

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    got = np.array(got)
    assert len(got) == len(xs)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{activation} at f={ACT_FRAC}: x={xs[bad[0]]} gives {got[bad[0]]}, "
                           f"golden {want[bad[0]]} ({bad.size} inputs differ)")
