"""Run a compiled program on the Accelerator in Amaranth simulation, with a memory
model of configurable latency, bandwidth and random stalls (the Python twin of
the cocotb memory model in :mod:`tb.benches.test_top`)."""

import random
from collections import deque
from dataclasses import dataclass

from amaranth.sim import Simulator

from golden.contract.layout import MemoryImage

__all__ = ["MemoryModel", "run_accelerator"]


@dataclass
class MemoryModel:
    """``latency``: cycles from taking a read request to offering its data;
    ``interval``: cycles between accepted requests (1 / bandwidth); ``p_stall``:
    probability of refusing a request or holding data back in a cycle."""
    latency: int = 4
    interval: int = 1
    p_stall: float = 0.0
    seed: int = 0


def run_accelerator(program, memory=None, max_cycles=200000, vcd=None, trace=None):
    """Returns ``(outputs, counters, image)``: the int16 outputs per input vector
    read back from memory, the accelerator's counters, and the final memory.
    ``trace``, a list, receives per unit (``load``, ``store``, ``compute``) the
    ``(start, end)`` cycles of each instruction it ran, in order, counted like
    the ``cycles`` counter (0 = the first cycle after the program fetch); a
    COMPUTE that drains behind the next one ends when ``compute_older`` falls."""
    memory = memory or MemoryModel()

    from hdl.top import COUNTERS, Accelerator
    cfg = program.cfg
    dut = Accelerator(cfg)
    image = MemoryImage(cfg.mem_width)
    image.update(program.image)
    rng = random.Random(memory.seed)
    state = {"done": False, "cycles": 0}
    counters = {}

    async def bench(ctx):
        ctx.set(dut.prog_addr, program.prog_addr)
        ctx.set(dut.prog_len, len(program.words))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        pending = deque()  # (ready_cycle, data)
        cycle = 0
        next_accept = 0
        open_ = [[], [], []]          # per unit: the start cycles of its open instructions
        while cycle < max_cycles:
            # Offer the oldest read response whose latency has passed.
            offer = bool(pending) and pending[0][0] <= cycle and rng.random() >= memory.p_stall
            ctx.set(dut.mem_rdata.valid, offer)
            if offer:
                ctx.set(dut.mem_rdata.payload.data, pending[0][1])
            accept_r = cycle >= next_accept and rng.random() >= memory.p_stall
            accept_w = rng.random() >= memory.p_stall
            ctx.set(dut.mem_rreq.ready, accept_r)
            ctx.set(dut.mem_wreq.ready, accept_w)
            (_, _, rq_v, rq_a, rd_r, wr_v, wr_a, wr_d, done, ub, us, older,
             run_cycles) = await ctx.tick().sample(
                dut.mem_rreq.valid, dut.mem_rreq.payload.addr, dut.mem_rdata.ready,
                dut.mem_wreq.valid, dut.mem_wreq.payload.addr, dut.mem_wreq.payload.data,
                dut.done, dut.unit_busy, dut.unit_start, dut.compute_older, dut.cycles)
            cycle += 1
            if trace is not None:
                # Per instruction: from the cycle after its start to the cycle its
                # unit is idle again — for an overlapped COMPUTE, the cycle
                # compute_older falls behind the next one.
                r = int(run_cycles)
                for u in range(3):
                    # instructions in flight this cycle (not counting one starting now)
                    flying = ((int(ub) >> u) & 1) + (int(older) if u == 2 else 0)
                    while len(open_[u]) > flying:
                        trace.append((("load", "store", "compute")[u], open_[u].pop(0), r))
                    if (int(us) >> u) & 1:
                        open_[u].append(r + 1)
            if offer and rd_r:
                pending.popleft()
            if rq_v and accept_r:
                pending.append((cycle + memory.latency, image.get(int(rq_a), 0)))
                next_accept = cycle + memory.interval - 1
            if wr_v and accept_w:
                image[int(wr_a)] = int(wr_d)
            if done:
                state["done"] = True
                break
        state["cycles"] = cycle
        for name in COUNTERS:
            counters[name] = ctx.get(getattr(dut, name))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    if not state["done"]:
        raise AssertionError(f"the accelerator did not finish within {max_cycles} cycles")
    outs = program.read_outputs(image)
    return outs, counters, image
