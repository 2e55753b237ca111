"""Amaranth-simulation helpers (used by tests and benchmarks) for ``lib.stream``
interfaces with random stalls.

``run_streams`` drives one input stream and collects one output stream, both
sides stalling at random (seeded), and returns what came out with the cycle
count; tests compare it with the golden model.  A ``Scenario`` carries the seed
and the configuration so that every failure message says how to replay it.
"""

import random
from dataclasses import dataclass, field

from amaranth.sim import Simulator


@dataclass
class Scenario:
    """What replays a randomized test: its seed and its configuration."""
    seed: int
    config: dict = field(default_factory=dict)

    def __str__(self):
        cfg = " ".join(f"{k}={v}" for k, v in self.config.items())
        return f"seed={self.seed} {cfg}".strip()


async def stream_put(ctx, stream, payload, rng=None, p_valid=1.0):
    """Offer ``payload`` on ``stream`` (after random idle cycles) until taken."""
    while rng is not None and rng.random() >= p_valid:
        await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


def write_ports(writes):
    """A setup coroutine that writes, one per cycle, through ports whose ready is
    always 1: ``writes`` is a list of ``(stream, payloads)``."""
    async def setup(ctx):
        for port, payloads in writes:
            for payload in payloads:
                ctx.set(port.payload, payload)
                ctx.set(port.valid, 1)
                await ctx.tick()
            ctx.set(port.valid, 0)
    return setup


def run_streams(dut, inputs, n_outputs, *, seed, p_valid=0.7, p_ready=0.7,
                source=None, sink=None, max_cycles=None, vcd=None, setup=None):
    """Push ``inputs`` into ``source`` and pop ``n_outputs`` payloads from ``sink``.

    ``inputs`` is a list of payloads for ``source``, or a list of
    ``(stream, payloads)`` pairs to feed several input streams at once, each by
    its own randomly stalling producer.
    ``source``/``sink`` default to ``dut.i``/``dut.o``.  With probability
    ``1 - p_valid`` the producer idles before each beat, with ``1 - p_ready``
    the consumer holds ``ready`` low in a cycle.  Returns ``(outputs, cycles)``:
    the output payloads as ``ctx.get`` returns them, and the cycle of the last
    output.  Raises ``AssertionError`` if the outputs do not all arrive within
    ``max_cycles`` or if an extra output appears within a grace period after them.
    """
    source = dut.i if source is None else source
    sink = dut.o if sink is None else sink
    feeds = inputs if inputs and isinstance(inputs[0], tuple) else [(source, inputs)]
    if max_cycles is None:
        max_cycles = 50 + 10 * (sum(len(f[1]) for f in feeds) + n_outputs)
    rng_out = random.Random(seed * 2 + 2)
    outputs, state = [], {"cycles": 0, "extra": 0}

    def producer(stream, payloads, rng, first):
        async def run(ctx):
            if first and setup is not None:
                await setup(ctx)
            for payload in payloads:
                await stream_put(ctx, stream, payload, rng, p_valid)
        return run

    async def consumer(ctx):
        cycle = 0
        grace = 0
        while cycle < max_cycles:
            ready = rng_out.random() < p_ready
            ctx.set(sink.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(sink.valid, sink.payload)
            cycle += 1
            if valid and ready:
                if len(outputs) < n_outputs:
                    outputs.append(payload)
                    state["cycles"] = cycle
                else:
                    state["extra"] += 1
            if len(outputs) == n_outputs:
                grace += 1
                if grace > 32:
                    break
        ctx.set(sink.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for n, (stream, payloads) in enumerate(feeds):
        rng = random.Random(seed * 2 + 1 + 1000 * n)
        sim.add_testbench(producer(stream, payloads, rng, n == 0), background=True)
    sim.add_testbench(consumer)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    assert len(outputs) == n_outputs, \
        f"only {len(outputs)} of {n_outputs} outputs within {max_cycles} cycles"
    assert state["extra"] == 0, f"{state['extra']} outputs beyond the expected {n_outputs}"
    return outputs, state["cycles"]
