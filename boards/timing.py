"""nextpnr's timing, read for a person: the worst path of each clock pair from its
``--report`` JSON (start and end register, the accelerator blocks the path crosses,
logic levels, nanoseconds of logic and of routing), the slack histogram from its
log, and — nextpnr reporting one path per clock pair — every endpoint that misses
the target, counted per block and per register (:func:`late_endpoints`, from the
arrival times of ``--detailed-timing-report``), so that what stands between a
build and its clock is seen at once, not one path per build.

A cell of the flattened design is named by its Amaranth hierarchy (``soc.accel.
compute.slice.nsm.d_nrank``, Yosys' ``flatten``); :func:`hdl.synth.block_of` maps that
path to a block of the thesis' table 5.1.  Each routed net also carries the Python
source lines that built it (Amaranth's ``src`` attributes), which name the module
file even where Yosys renamed a cell.
"""

import re

__all__ = ["path_summary", "worst_paths", "slack_histogram", "late_endpoints",
           "register_of"]

#: What Yosys and nextpnr append to a register's name when they map it to cells
#: (``out_k_TRELLIS_FF_Q_3``, ``d_final_SB_DFFE_Q``, a memory's ``..._DP16KD``).
_CELL_SUFFIX = re.compile(r"(_(TRELLIS|SB|DP16KD|MULT18X18D|LUT4|CCU2C|PFUMX|L6MUX|ICESTORM)"
                          r"|\$).*$")

#: Yosys' own cell-name prefixes (``$auto$...``, ``\$1234_CCU2C...``) carry no hierarchy.
_INTERNAL = re.compile(r"^\\?\$")


def _hier(cell):
    """The Amaranth hierarchy of a flattened cell name: its dotted module path
    (``soc.accel.nsm``), or ``""`` for a cell of the top module or a Yosys-made one."""
    name = cell.lstrip("\\").split("$")[0]        # (a packed cell: ``bias.0.15$DPRAM_COMB0``)
    if _INTERNAL.match(cell) or "." not in name:
        return ""
    parts = name.split(".")
    while parts and parts[-1].isdigit():       # a memory's tiles: ``sib.1.0``
        parts.pop()
    return ".".join(parts[:-1])


def _block(cell, sources):
    """The block of a cell: by its hierarchy, else by the Python file that built the
    net it drives (``hdl/datapath/nsm.py`` -> NSM)."""
    from hdl.synth import TOP_BLOCK, block_of
    hier = _hier(cell)
    if hier:
        parts = hier.split(".")
        if parts[:2] == ["soc", "accel"]:        # the accelerator inside the board top
            return block_of(".".join(["top", *parts[2:]]))
        if parts[0] == "soc":
            b = block_of(".".join(["top", *parts[1:]]))
            return "board top" if b in (TOP_BLOCK, "other") else b
        b = block_of("top." + hier)
        return "board I/O" if b in (TOP_BLOCK, "other") else b
    for src in sources:
        hit = re.search(r"(?:hdl|boards)/(?:\w+/)*(\w+)\.py:", src)
        if hit:
            b = block_of(f"top.{hit.group(1)}")
            if b not in (TOP_BLOCK, "other"):
                return b
    return "(unnamed)"


def path_summary(cp):
    """One entry of nextpnr's ``critical_paths``, summarized: ``from``/``to`` (the
    start and end cells), ``blocks`` (those it crosses, in order), ``logic_levels``
    (LUT and carry-chain cells passed through; a carry chain counts once),
    ``delay_ns``, ``logic_ns``, ``routing_ns``, ``clock`` (the clock pair) and
    ``sources`` (the Python lines of its nets, in order, without repeats)."""
    segments = cp.get("path", [])
    total = logic = routing = 0.0
    levels, blocks, sources = 0, [], []
    prev_carry = False
    for seg in segments:
        d = float(seg.get("delay", 0.0))
        total += d
        kind = seg.get("type")
        cell = seg.get("to", {}).get("cell", "")
        if kind == "routing":
            routing += d
            for s in seg.get("sources", []):
                if "/share/" not in s and s not in sources:
                    sources.append(s)
        else:
            logic += d
        if kind == "logic":
            carry = "CCU2" in cell or seg["to"].get("port") in ("FCO", "FCI")
            if not (carry and prev_carry):
                levels += 1
            prev_carry = carry
        elif kind == "routing" and "CCU2" not in cell:
            prev_carry = False
        b = _block(cell, seg.get("sources", []))
        if b != "(unnamed)" and (not blocks or blocks[-1] != b):
            blocks.append(b)
    start = segments[0]["from"]["cell"] if segments else ""
    end = segments[-1]["to"]["cell"] if segments else ""
    return {"clock": f"{cp.get('from', '?')} -> {cp.get('to', '?')}",
            "from": start.lstrip("\\"), "to": end.lstrip("\\"),
            "blocks": blocks, "logic_levels": levels, "delay_ns": round(total, 3),
            "logic_ns": round(logic, 3), "routing_ns": round(routing, 3),
            "sources": sources[:12]}


def worst_paths(report):
    """The summarized critical path of each clock pair of a nextpnr ``--report``
    dict, worst first."""
    paths = [path_summary(cp) for cp in report.get("critical_paths", [])]
    return sorted(paths, key=lambda p: -p["delay_ns"])


def slack_histogram(log_text):
    """The last slack histogram of a nextpnr log: ``[(low_ns, high_ns, endpoints)]``
    (nextpnr draws it with one ``*`` per N endpoints and a ``+`` for a part of N;
    the counts are its legend's, so approximate)."""
    blocks = log_text.split("Slack histogram:")
    if len(blocks) < 2:
        return []
    text = blocks[-1]
    legend = re.search(r"\* represents (\d+) endpoint", text)
    per_star = int(legend.group(1)) if legend else 1
    out = []
    for lo, hi, bar in re.findall(r"\[\s*(-?\d+),\s*(-?\d+)\)\s*\|([*+ ]*)", text):
        n = bar.count("*") * per_star + bar.count("+")
        out.append((int(lo) / 1000, int(hi) / 1000, n))
    return out


def register_of(cell):
    """The register (or memory) a timing endpoint's cell belongs to: its name without
    the suffixes synthesis appends (``soc.accel.store.encoder.rem_TRELLIS_FF_Q_3`` ->
    ``soc.accel.store.encoder.rem``; a memory's tiles to the memory)."""
    parts = _CELL_SUFFIX.sub("", cell.lstrip("\\")).split(".")
    while len(parts) > 1 and parts[-1].isdigit():  # a memory's tiles: ``bias.0.15``
        parts.pop()
    return ".".join(parts)


def late_endpoints(report, period_ns, top=25):
    """The endpoints of a nextpnr ``--report`` dict (with ``--detailed-timing-report``)
    whose latest arrival exceeds ``period_ns``: ``None`` without the detailed data,
    else ``{"period_ns", "endpoints" (all timed), "late", "by_block": [{"block",
    "late", "worst_ns"}], "by_register": [{"register", "block", "late",
    "worst_ns"}]}``, worst first (``top`` registers).  An endpoint is a cell input
    nextpnr times (a flip-flop's data or enable, a RAM port); its arrival counts
    from the launching clock edge.  Endpoints no clock captures (nextpnr's event
    ``<async>``: a combinational output buffer, the LEDs' pads) are not timed
    against the clock and not counted."""
    nets = report.get("detailed_net_timings")
    if nets is None:
        return None
    total = 0
    blocks, regs = {}, {}                     # name -> [late, worst arrival, block]
    for net in nets:
        for ep in net.get("endpoints", []):
            if ep.get("event") == "<async>":
                continue
            total += 1
            delay = ep.get("delay", 0.0)
            arrival = max(delay) if isinstance(delay, list) else float(delay)
            if arrival <= period_ns:
                continue
            block = _block(ep.get("cell", ""), net.get("sources", []))
            for table, key in ((blocks, block), (regs, register_of(ep.get("cell", "")))):
                entry = table.setdefault(key, [0, 0.0, block])
                entry[0] += 1
                entry[1] = max(entry[1], arrival)
    worst_regs = sorted(regs.items(), key=lambda kv: (-kv[1][1], kv[0]))[:top]
    return {"period_ns": round(period_ns, 3), "endpoints": total,
            "late": sum(v[0] for v in blocks.values()),
            "by_block": [{"block": b, "late": v[0], "worst_ns": round(v[1], 3)}
                         for b, v in sorted(blocks.items(), key=lambda kv: (-kv[1][0], kv[0]))],
            "by_register": [{"register": r, "block": v[2], "late": v[0], "worst_ns": round(v[1], 3)}
                            for r, v in worst_regs]}
