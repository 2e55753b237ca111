"""The regression: every cocotb testbench across a configuration matrix × seeds.

::

    python -m tb.regress [--preset quick|full] [--sim icarus|verilator] [--seeds N]
                         [--jobs N] [--only MODULE …] [-o build/regress]
    python -m tb.regress --list                       # the matrix, one case per line
    python -m tb.regress --case top-4x4-b8-sparse --seed 3 --waves   # replay one case

Cases are the datapath modules at several Tn/Tm (their testbenches draw every
weight width, random stalls on both sides) and the whole accelerator (``top``,
through :func:`tb.run.run_model`) at several Tn/Tm, weight widths, buffer
sizes, memory stalls, sparse and dense.  The cases run in parallel under
pytest-xdist (``tb/regress_cases.py``); each builds once and runs every seed.

Writes to the output directory: ``junit.xml`` (one test case per matrix case),
``summary.md`` (a table a person reads: cases, seeds, status, seconds; the
failures with the one command that replays each, waveform on; the functional
coverage summed over the matrix, every required corner marked reached or
MISSED) and ``summary.json`` (the same for scripts).  Exit status: 0 when
every case passed and every required corner was reached, 1 when a case
failed, 3 when only coverage is missing, 2 on bad arguments.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from golden.cli import (
    ArgumentParser,
    UsageError,
    add_jobs,
    add_sim,
    atomic_json,
    atomic_write,
    nonnegative_int,
    output_dir,
    positive_int,
    run_main,
)
from tb.runner import ROOT, CocotbFailure, default_sim
from tb.sim.coverage import REQUIRED

__all__ = ["Case", "PRESETS", "matrix", "run_case", "summarize", "dask_client", "run_on_cluster",
           "main"]

PLAN_ENV = "SPARSEGEN_REGRESS"


@dataclass
class Case:
    """One configuration: a module testbench (``kind="module"``, ``params`` its
    constructor's) or the accelerator (``kind="top"``, ``params`` the model, the
    compiler configuration's overrides and the memory model)."""
    id: str
    kind: str
    module: str
    params: dict
    knobs: dict = field(default_factory=dict)


def _module_cases():
    cases = []
    for module, key in (("pefu", "tm"), ("nsm", "tm"), ("ssm_seq", "tm"), ("wdm", "tm"),
                        ("encoder", "tn")):
        for v in (2, 4, 16):
            cases.append(Case(f"{module}-{key}{v}", "module", module, {key: v}))
    # A slow consumer: the PEFU's output FIFO fills and its credit check stalls the input.
    cases.append(Case("pefu-tm4-slowsink", "module", "pefu", {"tm": 4},
                      {"p_ready": 0.1, "p_valid": 1.0, "outputs": 40}))
    for tm in (2, 4, 16):   # the per-PE SSM at each weight width (one per run)
        for slot in (4, 8, 16):
            cases.append(Case(f"ssm-tm{tm}-w{slot}", "module", "ssm", {"tm": tm}, {"slot": slot}))
    for tn in (2, 4, 16):
        cases.append(Case(f"htree-tn{tn}-tm4", "module", "htree", {"tn": tn, "tm": 4}))
    for tn, tm in ((4, 4), (2, 16), (16, 2)):
        cases.append(Case(f"slice-tn{tn}-tm{tm}", "module", "slice", {"tn": tn, "tm": tm}))
    return cases


def _top(tn, tm, bits, dense=False, sizes=(70, 13, 5), sparsity=0.7, memory=None, buffers=None,
         tag=""):
    mode = "dense" if dense else "sparse"
    params = {"tn": tn, "tm": tm, "bits": bits, "dense": dense, "sizes": list(sizes),
              "sparsity": sparsity, "memory": memory or {"latency": 4, "p_stall": 0.2},
              "buffers": buffers or {}}
    return Case(f"top-{tn}x{tm}-b{bits}-{mode}{tag}", "top", "top", params)


def _top_cases(full):
    cases = [_top(4, 4, 4), _top(4, 4, 8, dense=True), _top(2, 4, 16),
             # Small buffers: the weights and neurons of a layer in several chunks.
             _top(4, 4, 4, sizes=(150, 40, 6), buffers={"sb_bytes": 256, "sib_bytes": 64},
                  tag="-smallbuf"),
             # A slow memory: long latency, a request every other cycle, stalls.
             _top(4, 2, 8, memory={"latency": 12, "interval": 2, "p_stall": 0.3},
                  tag="-slowmem"),
             # A smaller NSM window (small parts): 4 * Tm = 32 positions.
             _top(4, 8, 4, buffers={"window_k": 4}, tag="-k4"),
             # Windows narrower than the memory word (8 positions: the bitmaps padded).
             _top(2, 2, 4, buffers={"window_k": 4}, tag="-w8")]
    if full:
        cases += [_top(8, 4, 4, sparsity=0.9), _top(4, 8, 16, dense=True),
                  _top(2, 2, 4, sizes=(40, 20, 10, 3), tag="-3layer"),
                  _top(2, 4, 8, buffers={"window_k": 8}, tag="-k8")]
        # (Tn = Tm = 16 end to end takes Icarus minutes per seed: `make test-slow`.)
    return cases


PRESETS = {
    "quick": {"seeds": 2,
              "help": "every module at Tn/Tm 2, 4, 16 and 7 accelerator cases (one at a "
                      "4·Tm NSM window, one at a window narrower than the memory word), "
                      "2 seeds"},
    "full": {"seeds": 5, "help": "the quick matrix plus 5 larger accelerator cases, 5 seeds"},
}


def matrix(preset="full", only=None):
    """The cases of ``preset`` (``quick`` or ``full``), optionally only those of the
    modules named in ``only``."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    cases = _module_cases() + _top_cases(preset == "full")
    if only:
        known = sorted({c.module for c in cases})
        bad = [m for m in only if m not in known]
        if bad:
            raise ValueError(f"unknown module(s) {', '.join(bad)}; known: {', '.join(known)}")
        cases = [c for c in cases if c.module in only]
    return cases


def replay_command(case, seed, sim):
    return f"python -m tb.regress --case {case.id} --seed {seed} --sim {sim} --waves"


def _top_bins(case, res):
    from golden.contract.packing import slot_bits
    p = case.params
    return {f"slot {slot_bits(p['bits'])}": 1, "dense" if p["dense"] else "sparse": 1,
            "dual issue": int(res["dual_issues"] > 0), "memory stall": int(res["stall_cycles"] > 0),
            "several batches": int(res["batches"] > 1)}


def _run_top(case, seed, sim, waves, workdir, runner=None):
    import numpy as np

    from golden.contract.config import small_config
    from golden.data.synthetic import random_inputs, random_model
    from tb.run import run_model
    p = case.params
    rng = np.random.default_rng(seed)
    tn, tm = p["tn"], p["tm"]
    model = random_model(rng, p["sizes"], p["sparsity"], p["bits"], block=(tn, tm))
    x = random_inputs(rng, p["sizes"][0], vectors=2)
    cfg = small_config(tn, tm, **p["buffers"])
    res = run_model(model, x, cfg, dense=p["dense"], sim=sim, waves=waves, seed=seed,
                    memory=p["memory"], workdir=workdir, runner=runner)
    return res


def run_case(case, seeds, sim=None, *, waves=False, outdir="build/regress"):
    """Run ``case`` with every seed; return its record: ``id``, ``status``
    (``passed``/``failed``), ``seconds``, per-seed ``failures`` with their
    ``replay`` commands, and the coverage ``bins`` its seeds reached."""
    sim = sim or default_sim()
    casedir = Path(outdir).resolve() / "cases" / case.id
    if casedir.exists():
        shutil.rmtree(casedir)
    casedir.mkdir(parents=True)
    failures, bins = [], Counter()
    t0 = time.perf_counter()
    if case.kind == "module":
        from tb.runner import run
        old = os.environ.get("SPARSEGEN_BUILD")
        os.environ["SPARSEGEN_BUILD"] = str(casedir)
        try:
            run(case.module, case.params, seeds=seeds, sim=sim, waves=waves, knobs=case.knobs)
        except CocotbFailure as e:
            text = str(e)
            for s in seeds:
                if f"seed={s} " in text:
                    failures.append({"seed": s, "message": _block(text, s),
                                     "replay": replay_command(case, s, sim)})
        except Exception as e:   # generation or build: every seed fails
            failures = [{"seed": s, "message": f"{type(e).__name__}: {e}",
                         "replay": replay_command(case, s, sim)} for s in seeds]
        finally:
            if old is None:
                os.environ.pop("SPARSEGEN_BUILD", None)
            else:
                os.environ["SPARSEGEN_BUILD"] = old
        for cov in sorted(casedir.rglob("coverage.json")):
            bins.update(json.loads(cov.read_text())["bins"])
    else:
        runner = None   # one build of the accelerator per case, every seed runs on it
        for s in seeds:
            try:
                res = _run_top(case, s, sim, waves, casedir / "top", runner)
                runner = res["runner"]
                bins.update(_top_bins(case, res))
                message = None if res["bit_exact"] else f"mismatch: {res['mismatch']}"
            except Exception as e:   # noqa: BLE001 — any error fails the seed, the run goes on
                message = f"{type(e).__name__}: {e}"
            if message:
                failures.append({"seed": s, "message": message,
                                 "replay": replay_command(case, s, sim)})
    record = {"id": case.id, "module": case.module, "kind": case.kind, "params": case.params,
              "seeds": list(seeds), "sim": sim, "status": "failed" if failures else "passed",
              "seconds": round(time.perf_counter() - t0, 1), "failures": failures,
              "bins": dict(sorted(bins.items()))}
    atomic_json(casedir / "record.json", record, indent=1)
    return record


def _block(text, seed):
    """The part of a CocotbFailure message about ``seed``."""
    for part in text.split("cocotb ")[1:]:
        if f"seed={seed} " in part:
            return "cocotb " + part.strip()
    return text


def summarize(records, outdir, *, wall=None, preset=None):
    """Write ``summary.md`` and ``summary.json`` from the case records; return the
    summary dict (``passed``, ``failed``, ``coverage`` per module with ``missed``)."""
    coverage = {}
    for r in records:
        cov = coverage.setdefault(r["module"], Counter())
        cov.update(r["bins"])
    cov_out = {}
    for module, cov in sorted(coverage.items()):
        required = REQUIRED.get(module, [])
        cov_out[module] = {"bins": dict(sorted(cov.items())),
                           "required": required,
                           "missed": [b for b in required if cov.get(b, 0) == 0]}
    failed = [r for r in records if r["status"] != "passed"]
    summary = {"preset": preset, "sim": records[0]["sim"] if records else None,
               "cases": len(records), "runs": sum(len(r["seeds"]) for r in records),
               "passed": len(records) - len(failed), "failed": len(failed),
               "wall_seconds": wall, "records": records, "coverage": cov_out,
               "coverage_missed": {m: c["missed"] for m, c in cov_out.items() if c["missed"]}}
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_json(out / "summary.json", summary, indent=1)
    atomic_write(out / "summary.md", _markdown(summary))
    return summary


def _markdown(s):
    lines = [f"# Regression ({s['preset'] or 'custom'} matrix, {s['sim']})", "",
             f"{s['cases']} cases, {s['runs']} runs (case × seed): {s['passed']} passed, "
             f"{s['failed']} failed" + (f"; wall time {s['wall_seconds']} s" if s['wall_seconds']
                                       else "") + ".", "",
             "| case | seeds | status | s |", "|---|---|---|---|"]
    for r in s["records"]:
        seeds = ",".join(map(str, r["seeds"]))
        bad = ",".join(str(f["seed"]) for f in r["failures"])
        lines.append(f"| {r['id']} | {seeds} | {r['status'].upper()}"
                     + (f" (seeds {bad})" if bad else "") + f" | {r['seconds']} |")
    if s["failed"]:
        lines += ["", "## Failures", ""]
        for r in s["records"]:
            for f in r["failures"]:
                first = f["message"].strip().splitlines()[0] if f["message"].strip() else ""
                lines += [f"- **{r['id']}** seed {f['seed']}: {first}",
                          f"  replay: `{f['replay']}`"]
    lines += ["", "## Functional coverage (hits summed over cases and seeds)", "",
              "| module | bin | hits | required |", "|---|---|---|---|"]
    for module, c in s["coverage"].items():
        names = list(c["required"]) + [b for b in c["bins"] if b not in c["required"]]
        for b in names:
            hits = c["bins"].get(b, 0)
            req = ("reached" if hits else "**MISSED**") if b in c["required"] else "-"
            lines.append(f"| {module} | {b} | {hits} | {req} |")
    missed = s["coverage_missed"]
    lines += ["", "Required corners missed: "
              + ("; ".join(f"{m}: {', '.join(b)}" for m, b in missed.items()) if missed
                 else "none") + ".", ""]
    return "\n".join(lines)


def _replay_case(case, seeds, sim, outdir):
    """Run ``case`` in a process of its own (its replay command, so cases on one
    worker never share a build directory or an environment) and return its record.
    A dask task: picklable arguments, the record a plain dict."""
    cmd = [sys.executable, "-m", "tb.regress", "--case", case.id, "--sim", sim,
           "-o", str(outdir)] + [a for s in seeds for a in ("--seed", str(s))]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    path = Path(outdir) / "cases" / case.id / "record.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"id": case.id, "module": case.module, "kind": case.kind, "params": case.params,
            "seeds": list(seeds), "sim": sim, "status": "failed", "seconds": 0,
            "failures": [{"seed": s, "message": f"no record (exit {proc.returncode}): "
                                                f"{proc.stderr.strip()[-500:]}",
                          "replay": replay_command(case, s, sim)} for s in seeds],
            "bins": {}}


def dask_client(address):
    """A dask.distributed client of the scheduler at ``address``; a usage error
    naming ``--scheduler`` if none answers within dask's own
    ``distributed.comm.timeouts.connect``."""
    import dask
    from distributed import Client
    try:
        return Client(address, timeout=dask.config.get("distributed.comm.timeouts.connect"))
    except OSError as e:
        raise UsageError(f"--scheduler {address}: no dask scheduler answers there ({e})") \
            from None


def run_on_cluster(cases, seeds, sim, outdir, client, progress=print):
    """Every case's record, its case run on the dask.distributed ``client``'s workers
    (one task per case; the workers share ``outdir``'s file system, as on a
    cluster's shared disk), in the order of ``cases``."""
    from distributed import as_completed
    futures = client.map(_replay_case, cases, seeds=list(seeds), sim=sim, outdir=str(outdir),
                         pure=False)
    index = {f.key: k for k, f in enumerate(futures)}
    records = [None] * len(cases)
    for done, future in enumerate(as_completed(futures), 1):
        r = future.result()
        records[index[future.key]] = r
        progress(f"[{done}/{len(cases)}] {r['status'].upper()} {r['id']} ({r['seconds']} s)")
    return records


def _records(cases, seeds, sim, out):
    """The cases' records as the pytest workers wrote them (a failed one if missing)."""
    records = []
    for c in cases:
        path = out / "cases" / c.id / "record.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
        else:  # the worker died before writing it
            records.append({"id": c.id, "module": c.module, "kind": c.kind, "params": c.params,
                            "seeds": seeds, "sim": sim, "status": "failed", "seconds": 0,
                            "failures": [{"seed": s, "message": "no record (worker crashed?)",
                                          "replay": replay_command(c, s, sim)} for s in seeds],
                            "bins": {}})
    return records


def _pytest(plan_path, outdir, jobs):
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tb" / "regress_cases.py"),
           "-p", "no:cacheprovider", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
           "-o", "addopts=", "-v", "--tb=line", f"--junitxml={Path(outdir) / 'junit.xml'}"]
    if jobs != 1:
        cmd += ["-n", str(jobs)]
    env = {**os.environ, PLAN_ENV: str(plan_path)}
    return subprocess.run(cmd, env=env, cwd=ROOT).returncode


def main(argv=None):
    p = ArgumentParser(prog="python -m tb.regress", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="full", choices=list(PRESETS),
                   help="; ".join(f"{k}: {v['help']}" for k, v in PRESETS.items()))
    add_sim(p)
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="seeds per case (default: the preset's)")
    p.add_argument("--seed-base", type=nonnegative_int, default=1, help="first seed (default 1)")
    add_jobs(p, "parallel workers (pytest-xdist -n)")
    p.add_argument("--only", nargs="+", metavar="MODULE", help="only these modules' cases")
    p.add_argument("-o", "--output", default="build/regress", help="output directory")
    p.add_argument("--list", action="store_true", help="print the matrix and exit")
    p.add_argument("--case", action="append", metavar="ID",
                   help="run only this case in this process (replay); repeatable")
    p.add_argument("--seed", type=nonnegative_int, action="append",
                   help="with --case: the seed(s) to run")
    p.add_argument("--waves", action="store_true", help="write waveforms (with --case)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the cases on the dask.distributed cluster whose scheduler is at "
                        "ADDRESS (e.g. tcp://head:8786; dask-jobqueue starts one on Slurm/PBS/"
                        "LSF); its workers need this checkout and -o/--output on a shared disk; "
                        "it waits dask's distributed.comm.timeouts.connect (30 s) for the "
                        "scheduler (default: local pytest-xdist workers)")
    args = p.parse_args(argv)
    return run_main("python -m tb.regress", lambda: _run(p, args))


def _run(p, args):
    sim = args.sim
    cases = matrix(args.preset, args.only)
    n_seeds = args.seeds if args.seeds is not None else PRESETS[args.preset]["seeds"]
    seeds = list(range(args.seed_base, args.seed_base + n_seeds))
    if args.list:
        for c in cases:
            print(f"{c.id:28s} {c.module:8s} {json.dumps(c.params)}")
        print(f"{len(cases)} cases x {n_seeds} seeds ({args.preset})")
        return 0
    if args.case:
        by_id = {c.id: c for c in matrix("full")}
        bad = [c for c in args.case if c not in by_id]
        if bad:
            p.error(f"unknown case(s) {', '.join(bad)}; see python -m tb.regress --list")
        output_dir(args.output, "-o/--output")
        status = 0
        for cid in args.case:
            r = run_case(by_id[cid], args.seed or seeds, sim, waves=args.waves, outdir=args.output)
            print(f"{r['status'].upper()}: {cid} seeds {r['seeds']} ({r['seconds']} s); "
                  f"files in {Path(args.output) / 'cases' / cid}")
            for f in r["failures"]:
                print(f"  seed {f['seed']}: {f['message']}", file=sys.stderr)
            status |= r["status"] != "passed"
        return int(status)

    out = output_dir(args.output, "-o/--output", create=True).resolve()
    if (out / "cases").exists():
        shutil.rmtree(out / "cases")
    plan = {"sim": sim, "seeds": seeds, "outdir": str(out), "cases": [asdict(c) for c in cases]}
    plan_path = out / "plan.json"
    atomic_json(plan_path, plan, indent=1)
    where = (f"the dask cluster at {args.scheduler}" if args.scheduler
             else f"{args.jobs} workers")
    print(f"regression: {len(cases)} cases x {len(seeds)} seeds on {sim}, {where} -> {out}",
          flush=True)
    t0 = time.perf_counter()
    if args.scheduler:
        with dask_client(args.scheduler) as client:
            records = run_on_cluster(cases, seeds, sim, out, client,
                                     progress=lambda m: print(m, flush=True))
        rc = 0
    else:
        rc = _pytest(plan_path, out, args.jobs)
        records = _records(cases, seeds, sim, out)
    wall = round(time.perf_counter() - t0, 1)
    s = summarize(records, out, wall=wall, preset=args.preset)
    print(f"\n{s['passed']}/{s['cases']} cases passed ({s['runs']} runs) in {wall} s; "
          f"summary: {out / 'summary.md'}"
          + ("" if args.scheduler else f"; JUnit: {out / 'junit.xml'}"))
    for r in records:
        for f in r["failures"]:
            print(f"FAILED {r['id']} seed {f['seed']}\n  replay: {f['replay']}", file=sys.stderr)
    for module, missed in s["coverage_missed"].items():
        print(f"coverage MISSED {module}: {', '.join(missed)}", file=sys.stderr)
    if s["failed"] or rc not in (0, 5):
        return 1
    return 3 if s["coverage_missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
