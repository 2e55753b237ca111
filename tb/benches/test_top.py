"""cocotb testbench of the whole accelerator (module ``top``): a memory model with
configurable latency, bandwidth and random stalls serves the program and data
of a compiled model; the test records every word the accelerator writes and
its counters for :mod:`tb.run`, which compares them with the golden machine.

The job comes in the environment variable ``SPARSEGEN_TOP`` (a JSON file path):
``image`` ({address: word}), ``prog_addr``, ``prog_len``, ``ports`` (the
generator's port table), ``memory`` (``latency``, ``interval``, ``p_stall``,
``seed``), ``max_cycles`` and ``result`` (where to write the outcome).
"""

import json
import os
import random
import time
from collections import deque

import cocotb
from cocotb.triggers import RisingEdge

from tb.sim.stream import pack, reset, start_clock, unpack

COUNTERS = ("cycles", "compute_cycles", "stall_cycles", "steps", "dual_issues",
            "mem_reads", "mem_writes")


@cocotb.test()
async def top_runs_program(dut):
    with open(os.environ["SPARSEGEN_TOP"]) as f:
        job = json.load(f)
    image = {int(a): int(w) for a, w in job["image"].items()}
    ports = job["ports"]
    mem = job["memory"]
    rng = random.Random(mem["seed"])
    start_clock(dut)
    dut.start.value = 0
    dut.mem_rreq__ready.value = 0
    dut.mem_rdata__valid.value = 0
    dut.mem_wreq__ready.value = 0
    await reset(dut)
    dut.prog_addr.value = job["prog_addr"]
    dut.prog_len.value = job["prog_len"]
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0

    written = {}
    pending = deque()
    cycle, next_accept = 0, 0
    rdesc, wdesc = ports["mem_rreq__payload"], ports["mem_wreq__payload"]
    ddesc = ports["mem_rdata__payload"]
    done = False
    t0 = time.perf_counter()
    while cycle < job["max_cycles"]:
        offer = bool(pending) and pending[0][0] <= cycle and rng.random() >= mem["p_stall"]
        dut.mem_rdata__valid.value = int(offer)
        if offer:
            dut.mem_rdata__payload.value = pack(ddesc, {"data": pending[0][1]})
        accept_r = cycle >= next_accept and rng.random() >= mem["p_stall"]
        accept_w = rng.random() >= mem["p_stall"]
        dut.mem_rreq__ready.value = int(accept_r)
        dut.mem_wreq__ready.value = int(accept_w)
        await RisingEdge(dut.clk)
        cycle += 1
        if offer and dut.mem_rdata__ready.value:
            pending.popleft()
        if accept_r and dut.mem_rreq__valid.value:
            addr = unpack(rdesc, dut.mem_rreq__payload.value.to_unsigned())["addr"]
            pending.append((cycle + mem["latency"], written.get(addr, image.get(addr, 0))))
            next_accept = cycle + mem["interval"] - 1
        if accept_w and dut.mem_wreq__valid.value:
            w = unpack(wdesc, dut.mem_wreq__payload.value.to_unsigned())
            written[w["addr"]] = w["data"]
        if dut.done.value:
            done = True
            break
    result = {"done": done, "tb_cycles": cycle,
              # wall time of the clocked loop alone (no build, start-up or reset)
              "loop_seconds": time.perf_counter() - t0,
              "written": {str(a): str(w) for a, w in written.items()},
              "counters": {c: int(getattr(dut, c).value) for c in COUNTERS}}
    with open(job["result"], "w") as f:
        json.dump(result, f)
    assert done, f"the accelerator did not finish within {job['max_cycles']} cycles"
