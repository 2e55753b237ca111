"""cocotb testbench: the generated ``ssm_seq`` against golden.twins.ssm.tile_steps: the
windows read, the lanes resolved from them and from the held window, SB
addresses per slot width, the held window forgotten at every tile."""

import cocotb
import numpy as np

from golden.contract.isa import Slot
from golden.twins.ssm import tile_steps
from tb.sim.config import TBConfig
from tb.sim.stream import run_stream_test
from tb.sim.workloads import slot_coverage


@cocotb.test()
async def ssm_seq_matches_golden(dut):
    cfg = TBConfig.from_env()
    tm = cfg.params["tm"]
    rng = np.random.default_rng(cfg.seed)
    beats, tiles, expected, slots = [], [], [], []
    for t in range(cfg.knob("tiles", 5)):
        slot = int(rng.choice([4, 8, 16]))
        slots.append(slot)
        base = int(rng.integers(0, 1000))
        table = t % 2                   # the WDM's lookup table, passed on with every step
        tiles.append({"sb_base": base, "slot": Slot.of(slot).value, "table": table})
        wpw = {4: 4, 8: 2, 16: 1}[slot]
        n_beats = int(rng.integers(1, 8))
        start = 0
        tile_beats = []
        for b in range(n_beats):
            n = int(rng.integers(0, tm + 1))
            idx = sorted(rng.choice(np.arange(start, start + 20 * tm), size=n,
                                    replace=False).tolist())
            start = idx[-1] + 1 if idx else start
            neuron = rng.integers(-32768, 32768, size=tm).tolist()
            last = b == n_beats - 1
            beats.append({"valid": (1 << n) - 1, "neuron": neuron, "neuron_index": [0] * tm,
                          "synapse_index": idx + [0] * (tm - n), "last": int(last)})
            tile_beats.append((idx, neuron, last))
        for (idx, neuron, last), beat_steps in zip(tile_beats,
                                                   tile_steps([i for i, _, _ in tile_beats], tm)):
            n = len(idx)
            for k, (win, lanes, held) in enumerate(beat_steps):
                final = k == len(beat_steps) - 1
                expected.append({
                    "sb_addr": base + win // wpw, "slot": Slot.of(slot).value,
                    "table": table, "window_in_word": win % wpw, "valid": (1 << n) - 1,
                    "mask": sum(1 << q for q in lanes), "mask_held": sum(1 << q for q in held),
                    "offset": [s % (4 * tm) for s in idx] + [0] * (tm - n),
                    "neuron": neuron, "final": int(final), "last": int(final and last)})
    coverage = slot_coverage(slots)
    coverage["lanes from the held window"] = sum(e["mask_held"] != 0 for e in expected)
    coverage["empty beat"] = sum(b["valid"] == 0 for b in beats)
    await run_stream_test(dut, cfg, [("i", beats), ("tile", tiles)], "o", expected,
                          coverage=coverage)
