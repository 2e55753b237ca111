"""cocotb testbench: the generated composed ``slice`` (NSM, SSM sequencer,
H-tree, Tn PEs) against golden.twins.fc.sparse_fc_group."""

import cocotb
import numpy as np

from tb.sim.config import TBConfig
from tb.sim.stream import run_stream_test
from tb.sim.workloads import slice_coverage, slice_expected, slice_inputs, slice_workload


@cocotb.test()
async def slice_matches_golden(dut):
    cfg = TBConfig.from_env()
    tn, tm = cfg.params["tn"], cfg.params["tm"]
    window = 16 * tm
    sb_depth = 2 ** cfg.ports["sb_write__payload"]["fields"]["addr"]["width"]
    luts, tiles = slice_workload(np.random.default_rng(cfg.seed), tn, tm, window,
                                 cfg.knob("tiles", 4), sb_depth=min(sb_depth, 64))
    inputs = slice_inputs(luts, tiles, window)
    feeds = [(k, inputs[k]) for k in ("i", "neurons", "tile", "bias")]
    writes = [(k, inputs[k]) for k in ("sb_write", "lut")]
    expected = slice_expected(tiles, tm, window)
    await run_stream_test(dut, cfg, feeds, "o", expected, writes=writes,
                          coverage=slice_coverage(tiles, window, expected))
