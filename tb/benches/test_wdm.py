"""cocotb testbench: the generated ``wdm`` against golden.twins.wdm.lookup."""

import cocotb
import numpy as np

from golden.contract.isa import Slot
from tb.sim.config import TBConfig
from tb.sim.stream import run_stream_test
from tb.sim.workloads import slot_coverage, wdm_expected, wdm_workload


@cocotb.test()
async def wdm_matches_golden(dut):
    cfg = TBConfig.from_env()
    tm = cfg.params["tm"]
    lut, beats = wdm_workload(np.random.default_rng(cfg.seed), tm, cfg.knob("beats", 40))
    writes = [("lut", [{"addr": a, "value": int(v)} for a, v in enumerate(lut)])]
    feeds = [("i", [{"code": b["code"], "valid": b["valid"], "slot": Slot.of(b["slot"]).value}
                    for b in beats])]
    expected = [{"weight": e} for e in wdm_expected(lut, beats)]
    await run_stream_test(dut, cfg, feeds, "o", expected, writes=writes,
                          coverage=slot_coverage([b["slot"] for b in beats]))
