"""cocotb testbench: the generated ``nsm`` against golden.twins.nsm.beats."""

import cocotb
import numpy as np

from tb.sim.config import TBConfig
from tb.sim.stream import run_stream_test
from tb.sim.workloads import nsm_coverage, nsm_expected, nsm_inputs, nsm_workload


@cocotb.test()
async def nsm_matches_golden(dut):
    cfg = TBConfig.from_env()
    tm = cfg.params["tm"]
    window = cfg.params.get("window", 16 * tm)
    tiles = nsm_workload(np.random.default_rng(cfg.seed), tm, window, cfg.knob("tiles", 6))
    windows, neurons = nsm_inputs(tiles, window)
    expected = nsm_expected(tiles, tm, window)
    await run_stream_test(dut, cfg, [("i", windows), ("neurons", neurons)], "o", expected,
                          coverage=nsm_coverage(tiles, tm, window, expected))
