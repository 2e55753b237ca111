"""cocotb testbench: the generated per-PE ``ssm`` against golden.twins.ssm.select,
fed one packed SB word per golden step (golden.twins.ssm.tile_steps)."""

import cocotb
import numpy as np

from tb.sim.config import TBConfig
from tb.sim.stream import run_stream_test
from tb.sim.workloads import ssm_coverage, ssm_expected, ssm_inputs, ssm_workload


@cocotb.test()
async def ssm_matches_golden(dut):
    cfg = TBConfig.from_env()
    tm = cfg.params["tm"]
    codes, slot, beats = ssm_workload(np.random.default_rng(cfg.seed), tm,
                                      cfg.knob("beats", 40), slot=cfg.knob("slot", None))
    await run_stream_test(dut, cfg, [("i", ssm_inputs(codes, slot, beats, tm))], "o",
                          ssm_expected(codes, slot, beats, tm),
                          coverage=ssm_coverage(slot, beats, tm))
