"""The WDM in Amaranth simulation against golden.twins.wdm, with random stalls."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.contract.isa import Slot
from golden.contract.packing import pack, unpack
from golden.twins.wdm import decode, lookup
from hdl.datapath.wdm import WDM, table_depth
from tb.sim.simstreams import Scenario, run_streams, stream_put
from tb.sim.workloads import wdm_expected, wdm_workload


def load_lut(dut, lut, half=0):
    async def setup(ctx):
        for addr, value in enumerate(lut):
            ctx.set(dut.lut.payload, {"addr": addr, "value": int(value), "half": half})
            ctx.set(dut.lut.valid, 1)
            await ctx.tick()
        ctx.set(dut.lut.valid, 0)
    return setup


def payload(beat, **extra):
    return {"code": beat["code"], "valid": beat["valid"], "slot": Slot.of(beat["slot"]).value,
            **extra}


@pytest.mark.parametrize("tm", [1, 2, 4])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_beats_random_stalls(tm, seed):
    lut, beats = wdm_workload(np.random.default_rng(seed), tm, 40)
    dut = WDM(tm=tm)
    got, _ = run_streams(dut, [payload(b) for b in beats], len(beats), seed=seed,
                         setup=load_lut(dut, lut))
    expected = wdm_expected(lut, beats)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert [int(x) for x in g.weight] == e, f"[{Scenario(seed, {'tm': tm})}] beat {k}"


@pytest.mark.parametrize("widths", [(16,), (4,), (4, 16), (8, 16)])
def test_side_band_passes_through_and_narrow_configs(widths):
    lut, beats = wdm_workload(np.random.default_rng(4), 2, 20, widths=widths)
    dut = WDM(tm=2, widths=widths, side=8)
    inputs = [payload(b, side=k) for k, b in enumerate(beats)]
    got, _ = run_streams(dut, inputs, len(beats), seed=4, setup=load_lut(dut, lut))
    assert [int(g.side) for g in got] == list(range(len(beats)))
    assert [[int(x) for x in g.weight] for g in got] == wdm_expected(lut, beats)
    # One table per lane, only as deep as the narrowest slots need.
    assert dut.parameters["lut_size"] == {(16,): 0, (4,): 16, (4, 16): 16, (8, 16): 256}[widths]


def test_region_reload_between_beats():
    # Beats decoded with LUT A, then the table is rewritten (a new region) and the
    # same beats decode with LUT B.
    rng = np.random.default_rng(7)
    lut_a, beats = wdm_workload(rng, 2, 6, widths=(4, 8))
    lut_b = rng.integers(-32768, 32768, size=256)
    dut = WDM(tm=2)
    got = []

    async def bench(ctx):
        for lut in (lut_a, lut_b):
            await load_lut(dut, lut)(ctx)
            for beat in beats:
                await stream_put(ctx, dut.i, payload(beat))
                ctx.set(dut.o.ready, 1)
                for _ in range(dut.latency + 1):      # the beat's weights come out
                    _, _, valid, out = await ctx.tick().sample(dut.o.valid, dut.o.payload)
                    if valid:
                        break
                assert valid
                got.append([int(x) for x in out.weight])
                ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == wdm_expected(lut_a, beats) + wdm_expected(lut_b, beats)


@pytest.mark.parametrize("slot", [4, 8, 16])
def test_lookup_of_picked_codes_equals_decoding_the_word(slot):
    # Why the WDM may sit after the SSM: decoding every slot of a word and then
    # picking equals picking the codes and then looking them up.
    rng = np.random.default_rng(slot)
    lut = rng.integers(-32768, 32768, size=256)
    tm = 2
    values = (rng.integers(-32768, 32768, size=8) if slot == 16 else
              rng.integers(0, 1 << slot, size=64 * tm // slot))
    word = pack(values, slot, tm)[0]
    codes = unpack([word], slot, tm) & ((1 << slot) - 1)
    pick = rng.permutation(codes.size)[:tm]
    assert list(decode(word, lut, slot, tm)[pick]) == list(lookup(codes[pick], lut, slot))
    if slot < 16:     # by hand: a code names its table entry
        assert list(lookup(codes[pick], lut, slot)) == [lut[c] for c in codes[pick]]


def test_table_depth_and_lookup_errors():
    assert [table_depth(w) for w in [(4, 8, 16), (4,), (16,)]] == [256, 16, 0]
    assert list(lookup([0xFFFF, 0x8000, 7], None, 16)) == [-1, -32768, 7]
    with pytest.raises(ValueError, match="codes must be 4-bit unsigned"):
        lookup([16], np.zeros(256, dtype=np.int64), 4)
    with pytest.raises(ValueError, match="slot must be 4, 8 or 16"):
        lookup([1], None, 5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(tm=3), r"^tm must be a power of two in 1\.\.64, not 3$"),
    (dict(tm=2, widths=(4, 6)),
     r"^widths must be a non-empty subset of \(4, 8, 16\), not \(4, 6\)$"),
    (dict(tm=2, widths=()), r"^widths must be a non-empty subset of \(4, 8, 16\), not \(\)$"),
])
def test_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WDM(**kwargs)


@pytest.mark.parametrize("seed", [1, 2])
def test_two_tables_one_loaded_while_the_other_decodes(seed):
    # Table 0 holds LUT A, then table 1 is written with LUT B entry by entry while
    # beats stream through decoding with table 0 (random stalls); then beats
    # alternate between the tables.  Each beat decodes with the table it names.
    rng = np.random.default_rng(seed)
    lut_a, beats = wdm_workload(rng, 4, 30, widths=(4, 8))
    lut_b = rng.integers(-32768, 32768, size=256)
    dut = WDM(tm=4)
    tables = [0] * 20 + [k % 2 for k in range(len(beats) - 20)]
    inputs = [payload(b, table=t) for b, t in zip(beats, tables)]
    got = []

    async def bench(ctx):
        await load_lut(dut, lut_a, 0)(ctx)
        # (not run_streams: table 1's writes interleave with the beats)
        k_in = k_out = 0
        pending_b = list(enumerate(lut_b))
        while k_out < len(beats):
            if pending_b and k_in >= 2:
                addr, value = pending_b.pop(0)
                ctx.set(dut.lut.payload, {"addr": addr, "value": int(value), "half": 1})
                ctx.set(dut.lut.valid, 1)
            else:
                ctx.set(dut.lut.valid, 0)
            offer = k_in < len(beats) and (k_in < 20 or not pending_b) and rng.random() < 0.7
            if offer:
                ctx.set(dut.i.payload, inputs[k_in])
            ctx.set(dut.i.valid, offer)
            ready = rng.random() < 0.7
            ctx.set(dut.o.ready, ready)
            _, _, i_ready, o_valid, out = await ctx.tick().sample(dut.i.ready, dut.o.valid,
                                                                    dut.o.payload)
            if offer and i_ready:
                k_in += 1
            if o_valid and ready:
                got.append([int(x) for x in out.weight])
                k_out += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [wdm_expected(lut_a if t == 0 else lut_b, [b])[0] for b, t in zip(beats, tables)]
    assert got == want, f"[{Scenario(seed, {'tm': 4})}]"
    assert dut.parameters["lut_size"] == 256       # each table's; the memory holds two


@pytest.mark.parametrize("lanes, seed", [(2, 1), (4, 2), (16, 3)])
def test_a_write_of_several_entries_fills_a_row(lanes, seed):
    # A table written ``lanes`` entries a cycle (a memory word's, as the load unit
    # sends them), the last write's entries past the table's length left out by
    # ``en`` (they keep what the table held); then random beats (stalls on both
    # sides) decode through it exactly as entry by entry, with two tables.
    rng = np.random.default_rng(seed)
    lut, beats = wdm_workload(rng, 4, 40, widths=(4, 8, 16))
    dut = WDM(tm=4, lanes=lanes)
    old, other = rng.integers(-32768, 32768, size=(2, 256))
    count = 256 - lanes // 2 if lanes > 1 else 256        # (a partial last word)
    want_lut = np.concatenate([lut[:count], old[count:]])

    async def setup(ctx):
        for half, table, n in ((0, old, 256), (0, lut, count), (1, other, 256)):
            for base in range(0, 256, lanes):
                en = sum(1 << k for k in range(lanes) if base + k < n)
                ctx.set(dut.lut.payload, {"addr": base, "half": half, "en": en,
                                          "value": [int(v) for v in table[base:base + lanes]]})
                ctx.set(dut.lut.valid, 1)
                await ctx.tick()
        ctx.set(dut.lut.valid, 0)

    tables = [k % 2 for k in range(len(beats))]
    got, _ = run_streams(dut, [payload(b, table=t) for b, t in zip(beats, tables)], len(beats),
                         seed=seed, setup=setup)
    want = [wdm_expected(want_lut if t == 0 else other, [b])[0] for b, t in zip(beats, tables)]
    assert [[int(x) for x in g.weight] for g in got] == want, \
        f"[{Scenario(seed, {'tm': 4, 'lanes': lanes})}]"
    assert dut.parameters["lanes"] == lanes
