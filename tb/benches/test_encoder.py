"""cocotb testbench: the generated ``encoder`` against golden.twins.encoder.beats."""

import cocotb
import numpy as np

from tb.sim.config import TBConfig
from tb.sim.stream import run_stream_test
from tb.sim.workloads import encoder_coverage, encoder_expected, encoder_inputs, encoder_workload


@cocotb.test()
async def encoder_matches_golden(dut):
    cfg = TBConfig.from_env()
    tn = cfg.params["tn"]
    window = 4 * tn
    vectors = encoder_workload(np.random.default_rng(cfg.seed), tn, window,
                               cfg.knob("vectors", 8))
    await run_stream_test(dut, cfg, [("i", encoder_inputs(vectors, window))], "o",
                          encoder_expected(vectors, tn, window),
                          coverage=encoder_coverage(vectors, tn, window))
