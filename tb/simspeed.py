"""Simulated cycles per second of the same testbenches on Icarus and on Verilator.

::

    python -m tb.simspeed [--sim icarus verilator] [-o build/bench]

Runs the accelerator (``tb.run``, a fixed random model at Tn = Tm = 4, and with
``--large`` also at Tn = Tm = 16, which takes Icarus many minutes) on each simulator and
reports the build time,
the simulation time and the simulated clock cycles per second (counted by the
testbench's clock, over the simulation only).  Writes ``simspeed.json`` and
``simspeed.md`` into the output directory.  A benchmark, not a test: nothing
here passes or fails on time (a mismatch with the golden model still fails).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from golden.cli import ArgumentParser, atomic_json, atomic_write, output_dir, run_main, simulator
from tb.runner import SIMULATORS

__all__ = ["measure", "main"]

CASES = {"4x4": (4, 4, (200, 40, 10)), "16x16": (16, 16, (400, 64, 10))}


def measure(sim, case, outdir):
    """Run ``case`` on ``sim``; return a dict of its times and speed."""
    from golden.contract.config import small_config
    from golden.data.synthetic import random_inputs, random_model
    from tb.run import run_model
    tn, tm, sizes = CASES[case]
    rng = np.random.default_rng(7)
    model = random_model(rng, list(sizes), 0.8, 4, block=(tn, tm))
    x = random_inputs(rng, sizes[0], vectors=8)
    t0 = time.perf_counter()
    res = run_model(model, x, small_config(tn, tm), sim=sim,
                    workdir=Path(outdir) / "simspeed" / f"{case}-{sim}")
    total = time.perf_counter() - t0
    if not res["bit_exact"]:
        raise AssertionError(f"{case} on {sim}: {res['mismatch']}")
    return {"case": case, "sim": sim, "tn": tn, "tm": tm, "sizes": list(sizes),
            "cycles": res["cycles"], "loop_seconds": res["loop_seconds"],
            "total_seconds": round(total, 2),
            "generate_build_startup_seconds": round(total - res["loop_seconds"], 2),
            "sim_cycles_per_second": res["sim_cycles_per_second"]}


def main(argv=None):
    p = ArgumentParser(prog="python -m tb.simspeed", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim", nargs="+", type=simulator, default=list(SIMULATORS),
                   metavar="{icarus,verilator}", help="simulators to measure (default both)")
    p.add_argument("--large", action="store_true",
                   help="also the Tn = Tm = 16 case (slow on Icarus)")
    p.add_argument("-o", "--output", default="build/bench", help="output directory")
    args = p.parse_args(argv)
    return run_main("python -m tb.simspeed", lambda: _run(args), errors=(RuntimeError,))


def _run(args):
    out = output_dir(args.output, "-o/--output", create=True)
    rows = []
    for case in (list(CASES) if args.large else ["4x4"]):
        for sim in args.sim:
            print(f"simspeed: {case} on {sim} ...", flush=True)
            r = measure(sim, case, out)
            print(f"  {r['cycles']} cycles in {r['loop_seconds']} s: "
                  f"{r['sim_cycles_per_second']:.0f} cycles/s (generate, build, start-up "
                  f"{r['generate_build_startup_seconds']} s)",
                  flush=True)
            rows.append(r)
    atomic_json(out / "simspeed.json", rows, indent=1)
    lines = ["# Simulated cycles per second (the accelerator under cocotb)", "",
             "Cycles per second of the clocked loop alone; the last column is the rest "
             "of the run (Verilog generation, the simulator's build, start-up, reset).", "",
             "| case | simulator | cycles | loop s | cycles/s | generate + build + start-up s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['sim']} | {r['cycles']} | {r['loop_seconds']} | "
              f"{r['sim_cycles_per_second']:.0f} | {r['generate_build_startup_seconds']} |"
              for r in rows]
    atomic_write(out / "simspeed.md", "\n".join(lines) + "\n")
    print(f"written: {out / 'simspeed.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
