"""cocotb testbench: the generated ``htree``: every beat reaches every leaf, in
order, none lost or repeated, under random stalls."""

import random

import cocotb

from tb.sim.config import TBConfig
from tb.sim.stream import random_payload, run_stream_test


@cocotb.test()
async def htree_broadcasts(dut):
    cfg = TBConfig.from_env()
    tn = cfg.params["tn"]
    rng = random.Random(cfg.seed)
    desc = cfg.ports["i__payload"]
    beats = [random_payload(desc, rng) for _ in range(cfg.knob("beats", 60))]
    await run_stream_test(dut, cfg, [("i", beats)], "o", [[b] * tn for b in beats])
