"""cocotb testbench: the generated ``pefu`` Verilog against golden.twins.pefu.

Random beats (tb.sim.workloads) go in with random idle cycles, results come out
under random back-pressure; every result must equal the golden PEFU's, none
missing, none extra.  Run it through ``python -m tb.runner pefu --tm 4 --seed 1``.
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from tb.sim.config import TBConfig
from tb.sim.coverage import Coverage
from tb.sim.stream import StreamPort, collect, drive, reset, start_clock
from tb.sim.workloads import pefu_beats, pefu_coverage, pefu_expected, pefu_workload


@cocotb.test()
async def pefu_matches_golden(dut):
    cfg = TBConfig.from_env()
    tm = cfg.params["tm"]
    n_outputs = cfg.knob("outputs", 40)
    p_valid, p_ready = cfg.knob("p_valid", 0.7), cfg.knob("p_ready", 0.7)

    work = pefu_workload(np.random.default_rng(cfg.seed), tm, n_outputs)
    beats, expected = pefu_beats(work), pefu_expected(work)

    start_clock(dut)
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await reset(dut)

    port_i, port_o = StreamPort(dut, "i", cfg.ports), StreamPort(dut, "o", cfg.ports)
    rng_in, rng_out = random.Random(cfg.seed * 2 + 1), random.Random(cfg.seed * 2 + 2)
    cov = Coverage("pefu")
    cov.update(pefu_coverage(work, expected))
    monitor = cocotb.start_soon(cov.monitor(dut.clk, [port_i, port_o]))
    cocotb.start_soon(drive(dut.clk, port_i, beats, rng_in, p_valid))
    got = await collect(dut.clk, port_o, len(expected), rng_out, p_ready,
                        timeout=200 + 20 * len(beats))
    monitor.cancel()
    cov.write()
    await RisingEdge(dut.clk)

    bad = [k for k in range(len(expected)) if got[k] != int(expected[k])]
    assert not bad, (
        f"pefu tm={tm} seed={cfg.seed}: output {bad[0]} RTL {got[bad[0]]} golden "
        f"{int(expected[bad[0]])} ({len(bad)} of {len(expected)} differ); "
        f"replay: {cfg.replay_hint()}")
