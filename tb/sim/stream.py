"""cocotb helpers for the stream ports of Amaranth-generated Verilog.

Amaranth names a port by its path joined with ``__``: a stream ``i`` becomes
``i__valid``, ``i__ready`` and ``i__payload``; ``clk`` and ``rst`` are the clock
and the synchronous reset.  Structured payloads are packed LSB first at the
offsets the generator writes into ``MODULE.json``; :func:`pack` and
:func:`unpack` use that description, so the testbench checks it too.

Handshakes are sampled at the rising edge (values before the edge), as
Amaranth's ``valid & ready`` rule does, and new values are driven right after.
"""

import random

from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

__all__ = ["pack", "unpack", "StreamPort", "start_clock", "reset", "drive", "collect",
           "write_all", "run_stream_test", "random_payload"]


def _field_items(desc, value):
    fields = desc["fields"]
    if isinstance(value, dict):
        unknown = set(value) - set(fields)
        if unknown:
            raise KeyError(f"unknown payload fields {sorted(unknown)}; known: {sorted(fields)}")
        return [(fields[k], v) for k, v in value.items()]
    if len(value) != len(fields):
        raise ValueError(f"payload has {len(fields)} elements, got {len(value)}")
    return [(fields[str(i)], v) for i, v in enumerate(value)]


def pack(desc, value):
    """Pack ``value`` (an int, or a dict/sequence for a structured payload) into the
    unsigned integer that drives a port described by ``desc`` (from ``MODULE.json``)."""
    if "fields" not in desc:
        width = desc["width"]
        v = int(value)
        lo = -(1 << (width - 1)) if desc.get("signed") else 0
        hi = (1 << (width - 1)) - 1 if desc.get("signed") else (1 << width) - 1
        if not lo <= v <= hi:
            raise ValueError(f"{v} does not fit a {'signed' if desc.get('signed') else 'unsigned'} "
                             f"{width}-bit field")
        return v & ((1 << width) - 1)
    bits = 0
    for fdesc, fvalue in _field_items(desc, value):
        bits |= pack(fdesc, fvalue) << fdesc.get("offset", 0)
    return bits


def random_payload(desc, rng):
    """A random value of the shape ``desc`` describes, in :func:`unpack`'s form."""
    return unpack(desc, rng.getrandbits(desc["width"]))


def unpack(desc, bits):
    """The inverse of :func:`pack`: an int, or a dict of fields (arrays as lists)."""
    bits = int(bits)
    if "fields" not in desc:
        width = desc["width"]
        v = bits & ((1 << width) - 1)
        if desc.get("signed") and v >> (width - 1):
            v -= 1 << width
        return v
    fields = desc["fields"]
    values = {k: unpack(f, bits >> f.get("offset", 0)) for k, f in fields.items()}
    if all(k.isdigit() for k in fields):
        return [values[str(i)] for i in range(len(fields))]
    return values


class StreamPort:
    """The three signals of stream ``name`` on ``dut``, with its payload description."""

    def __init__(self, dut, name, ports):
        self.name = name
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.desc = ports[f"{name}__payload"]


def start_clock(dut, period_ns=10):
    return Clock(dut.clk, period_ns, unit="ns").start()


async def reset(dut, cycles=3):
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def drive(clk, port, payloads, rng=None, p_valid=1.0):
    """Offer each payload on ``port`` (idling at random before each) until taken."""
    rng = rng or random.Random(0)
    port.valid.value = 0
    for payload in payloads:
        while rng.random() >= p_valid:
            await RisingEdge(clk)
        port.payload.value = pack(port.desc, payload)
        port.valid.value = 1
        while True:
            await RisingEdge(clk)
            if port.ready.value:
                break
        port.valid.value = 0


async def collect(clk, port, count, rng=None, p_ready=1.0, timeout=None, grace=32,
                  stats=None):
    """Take ``count`` payloads from ``port``, holding ``ready`` low at random.

    Raises ``AssertionError`` if they do not arrive within ``timeout`` cycles, or
    if a further payload is offered and taken within ``grace`` cycles after them.
    ``stats`` (a dict), if given, receives ``cycles`` (edge of the last payload).
    """
    rng = rng or random.Random(0)
    timeout = timeout if timeout is not None else 100 + 20 * count
    out = []
    cycle = 0
    ready = False
    done_at = None
    while True:
        ready = rng.random() < p_ready
        port.ready.value = int(ready)
        await RisingEdge(clk)
        cycle += 1
        if ready and port.valid.value:
            value = unpack(port.desc, port.payload.value.to_unsigned())
            if len(out) >= count:
                raise AssertionError(f"{port.name}: unexpected extra payload {value!r} "
                                     f"after the expected {count}")
            out.append(value)
            if len(out) == count:
                done_at = cycle
                if stats is not None:
                    stats["cycles"] = cycle
        if done_at is not None and cycle - done_at >= grace:
            break
        if done_at is None and cycle >= timeout:
            raise AssertionError(f"{port.name}: only {len(out)} of {count} payloads "
                                 f"within {timeout} cycles")
    port.ready.value = 0
    return out


async def write_all(clk, port, payloads):
    """Write ``payloads`` through an always-ready port, one per cycle."""
    for payload in payloads:
        port.payload.value = pack(port.desc, payload)
        port.valid.value = 1
        await RisingEdge(clk)
    port.valid.value = 0


async def run_stream_test(dut, cfg, feeds, out, expected, writes=(), label="", coverage=None):
    """The common cocotb testbench body: reset, write the always-ready ports
    (``writes``: ``(port name, payloads)``), drive every ``feeds`` stream
    (``(port name, payloads)``) with random idle cycles and take ``len(expected)``
    payloads from ``out`` under random back-pressure; compare with ``expected``.

    Stall probabilities come from the knobs ``p_valid`` and ``p_ready``
    (default 0.7); every stream gets its own seeded generator.  ``coverage``
    (a dict of workload bins, see :mod:`tb.sim.coverage`) is written with the
    stalls observed on every port.
    """
    import cocotb

    from tb.sim.coverage import Coverage
    p_valid, p_ready = cfg.knob("p_valid", 0.7), cfg.knob("p_ready", 0.7)
    start_clock(dut)
    names = [name for name, _ in feeds] + [name for name, _ in writes]
    for name in names:
        getattr(dut, f"{name}__valid").value = 0
    getattr(dut, f"{out}__ready").value = 0
    await reset(dut)
    for name, payloads in writes:
        await write_all(dut.clk, StreamPort(dut, name, cfg.ports), payloads)
    cov = Coverage(cfg.module)
    cov.update(coverage or {})
    ports = []
    for n, (name, payloads) in enumerate(feeds):
        port = StreamPort(dut, name, cfg.ports)
        ports.append(port)
        cocotb.start_soon(drive(dut.clk, port, payloads,
                                random.Random(cfg.seed * 2 + 1 + 1000 * n), p_valid))
    total = sum(len(p) for _, p in feeds)
    out_port = StreamPort(dut, out, cfg.ports)
    monitor = cocotb.start_soon(cov.monitor(dut.clk, ports + [out_port]))
    got = await collect(dut.clk, out_port, len(expected),
                        random.Random(cfg.seed * 2 + 2), p_ready,
                        timeout=500 + 40 * (total + len(expected)))
    monitor.cancel()
    cov.write()
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g == e, (f"{cfg.module} {cfg.params} seed={cfg.seed}: {label}{out} "
                        f"payload {k}: RTL {g} != golden {e}; replay: {cfg.replay_hint()}")
    return got
