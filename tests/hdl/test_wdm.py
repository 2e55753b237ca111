"""The WDM in Amaranth simulation against golden.twins.wdm, with random stalls."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.contract.isa import Slot
from hdl.datapath.wdm import WDM
from tb.sim.simstreams import Scenario, run_streams, stream_put
from tb.sim.workloads import wdm_expected, wdm_workload


def load_lut(dut, lut):
    async def setup(ctx):
        for addr, value in enumerate(lut):
            ctx.set(dut.lut.payload, {"addr": addr, "value": int(value)})
            ctx.set(dut.lut.valid, 1)
            await ctx.tick()
        ctx.set(dut.lut.valid, 0)
    return setup


@pytest.mark.parametrize("tm", [1, 2, 4])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_words_random_stalls(tm, seed):
    lut, words = wdm_workload(np.random.default_rng(seed), tm, 40)
    dut = WDM(tm=tm)
    inputs = [{"word": w, "slot": Slot.of(s).value} for s, w in words]
    got, _ = run_streams(dut, inputs, len(words), seed=seed, setup=load_lut(dut, lut))
    expected = wdm_expected(lut, words, tm)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert [int(x) for x in g.weight] == e, f"[{Scenario(seed, {'tm': tm})}] word {k}"


def test_side_band_passes_through_and_16_only_config():
    lut, words = wdm_workload(np.random.default_rng(4), 2, 20, widths=(16,))
    dut = WDM(tm=2, widths=(16,), side=8)
    inputs = [{"word": w, "slot": Slot.of(s).value, "side": k} for k, (s, w) in enumerate(words)]
    got, _ = run_streams(dut, inputs, len(words), seed=4)
    assert [int(g.side) for g in got] == list(range(len(words)))
    assert [[int(x) for x in g.weight] for g in got] == wdm_expected(lut, words, 2)


def test_region_reload_between_words():
    # Words decoded with LUT A, then the table is rewritten (a new region) and the
    # same words decode with LUT B.
    rng = np.random.default_rng(7)
    lut_a, words = wdm_workload(rng, 2, 6, widths=(4, 8))
    lut_b = rng.integers(-32768, 32768, size=256)
    dut = WDM(tm=2)
    got = []

    async def bench(ctx):
        for lut in (lut_a, lut_b):
            await load_lut(dut, lut)(ctx)
            for slot, word in words:
                await stream_put(ctx, dut.i, {"word": word, "slot": Slot.of(slot).value})
                ctx.set(dut.o.ready, 1)
                for _ in range(dut.latency + 1):      # the word's weights come out
                    _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
                    if valid:
                        break
                assert valid
                got.append([int(x) for x in payload.weight])
                ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == wdm_expected(lut_a, words, 2) + wdm_expected(lut_b, words, 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(tm=3), r"^tm must be a power of two in 1\.\.64, not 3$"),
    (dict(tm=2, widths=(4, 6)),
     r"^widths must be a non-empty subset of \(4, 8, 16\), not \(4, 6\)$"),
    (dict(tm=2, widths=()), r"^widths must be a non-empty subset of \(4, 8, 16\), not \(\)$"),
])
def test_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WDM(**kwargs)
