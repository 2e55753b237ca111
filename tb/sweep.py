"""The design space before synthesis: ``python -m tb.sweep`` (``make sweep``).

For every configuration of the grid (Tn × Tm × NSM window × weight widths ×
buffer sizes), the cycles of each workload from the performance model
(:mod:`golden.perf.perfmodel`, exact against the RTL) and the area from the
estimate (:mod:`hdl.estimate`, fitted on Yosys); which points fit which part
(iCE40UP5K, ECP5-25F, ECP5-85F: the accelerator core against the part's LUTs,
block RAMs and DSPs); the Pareto front of cycles against LUTs per family.
Writes ``OUT/sweep.json``, ``OUT/report.md`` and ``OUT/pareto.png``.
``--verify K`` synthesizes the K fastest Pareto points of each family with
Yosys and prints the estimate beside the measurement; ``--scheduler ADDRESS``
runs the points on a running dask.distributed cluster.

Workloads: the bench's AlexNet fc8 and VGG16 fc7 at 1/16 scale (four input
vectors at the thesis' densities) and the demo network (the digits MLP of
``make demo``, trained once into ``OUT/digits``, on 20 test images).
"""

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from golden.cli import (
    ArgumentParser,
    UsageError,
    add_jobs,
    add_seed,
    atomic_json,
    atomic_savefig,
    atomic_write,
    output_dir,
    run_main,
)
from golden.contract.config import PROFILES

__all__ = ["PARTS", "WORKLOADS", "BUFFERS", "grid", "point_cycles", "pareto", "run_sweep", "main"]

#: The parts a point may fit: family and the resources of the device.
PARTS = {
    "iCE40UP5K": ("ice40", {"luts": 5280, "bram": 30, "dsp": 8}),
    "ECP5-25F": ("ecp5", {"luts": 24288, "bram": 56, "dsp": 28}),
    "ECP5-85F": ("ecp5", {"luts": 83640, "bram": 208, "dsp": 156}),
}
#: Workloads: bench layers (name, scale, vectors) and the demo network.
WORKLOADS = ("alexnet-fc8", "vgg16-fc7", "digits-mlp")
_SCALE, _VECTORS, _IMAGES = 16, 4, 20
#: Buffer sizes of a point: ``small`` (the test configuration at its Tn/Tm/window)
#: or ``demo`` (``make demo``'s: a 32 KB instruction buffer, 8 KB NBin and NBout).
BUFFERS = {"small": {}, "demo": {k: v for k, v in PROFILES["demo"].items()
                                 if k not in ("tn", "tm")}}


def _ints(text, name):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--{name} must be comma-separated integers, not {text!r}") from None
    if not values:
        raise UsageError(f"--{name} must name at least one value")
    return values


def grid(tns, tms, window_ks, widths, buffers):
    """Every valid configuration of the product, as ``(point, AccelConfig)``; a
    combination the configuration rejects (a window smaller than Tn, say) is
    left out."""
    from golden.contract.config import small_config
    out = []
    for tn, tm, k, w, b in itertools.product(tns, tms, window_ks, widths, buffers):
        try:
            cfg = small_config(tn, tm, window_k=k, widths=tuple(w), **BUFFERS[b])
        except ValueError:
            continue
        out.append(({"tn": tn, "tm": tm, "window_k": k, "window": cfg.window,
                     "widths": list(w), "buffers": b}, cfg))
    return out


def _workload(name, cfg, seed, cache):
    """``(model, inputs)`` of a workload for ``cfg`` (layers scaled to Tn as the bench)."""
    if name == "digits-mlp":
        from golden.contract.model import load
        from golden.data.digits import load_data
        from golden.twins.infer import quantize_input
        model = load(cache / "digits" / "mlp.npz")
        _, xte, _, _ = load_data(0)
        return model, quantize_input(xte[:_IMAGES], 8)
    from golden.data.synthetic import random_inputs, random_sparse_fc
    from tb.bench import _scaled
    n_in, n_out, wd, nd, block = _scaled(name, _SCALE, cfg.tn)
    rng = np.random.default_rng(seed)
    model = random_sparse_fc(rng, n_in, n_out, wd, 4, block=block, name=name)
    return model, random_inputs(rng, n_in, vectors=_VECTORS, density=nd)


def point_cycles(cfg_dict, workloads, seed, cache):
    """``{workload: cycles or None}`` of one configuration from the performance
    model (every batch the instruction buffer needs; None where the workload
    does not compile for the configuration, with the reason in ``errors``)."""
    from golden.compiler import CompileError, compile_model
    from golden.contract.config import AccelConfig
    from golden.perf import perfmodel
    from tb.run import batches
    cfg = AccelConfig(**{**cfg_dict, "widths": tuple(cfg_dict["widths"])})
    cycles, errors = {}, {}
    for name in workloads:
        model, x = _workload(name, cfg, seed, Path(cache))
        try:
            total = 0
            for part in batches(model, x, cfg, False):
                total += perfmodel.predict(compile_model(model, cfg, x[part]),
                                           {"latency": 4})["cycles"]
            cycles[name] = int(total)
        except CompileError as e:
            cycles[name], errors[name] = None, str(e)
    return {"cycles": cycles, "errors": errors}


def pareto(points, x, y):
    """The points no other point beats on both ``x`` and ``y`` (lower is better),
    sorted by ``x``."""
    ok = sorted((p for p in points if p[x] is not None and p[y] is not None),
                key=lambda p: (p[x], p[y]))
    front, best = [], None
    for p in ok:
        if best is None or p[y] < best:
            front.append(p)
            best = p[y]
    return front


def _fits(area):
    out = {}
    for part, (fam, cap) in PARTS.items():
        t = area[fam]["total"]
        out[part] = all(t[k] <= cap[k] for k in cap)
    return out


def run_sweep(out, *, tns=(1, 2, 4, 8, 16), tms=(2, 4, 8, 16), window_ks=(4, 8, 16),
              widths=((4, 8, 16),), buffers=("small", "demo"), workloads=WORKLOADS, verify=0,
              scheduler=None, jobs=1, seed=0, progress=print):
    """Run the sweep; write ``out/sweep.json``, ``report.md``, ``pareto.png``; return
    the report."""
    from tqdm import tqdm

    from hdl.estimate import estimate
    t0 = time.perf_counter()
    points = grid(tns, tms, window_ks, widths, buffers)
    if not points:
        raise UsageError("the grid holds no valid configuration (the NSM window k * Tm must "
                         "be at least Tn)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "digits-mlp" in workloads and not (out / "digits" / "mlp.npz").exists():
        from golden.data.digits import run as digits_run
        progress("training the demo network (digits MLP) once ...")
        digits_run(out / "digits", epochs=200, seed=0, with_cnn=False, log=lambda s: None)
    progress(f"{len(points)} configurations x {len(workloads)} workloads "
             f"({'dask ' + scheduler if scheduler else f'{jobs} local process(es)'}) ...")
    args = [(cfg.as_dict(), tuple(workloads), seed, str(out)) for _, cfg in points]
    results = _map_points(args, scheduler, jobs, progress)
    rows = []
    for (point, cfg), res in tqdm(zip(points, results), total=len(points), desc="area",
                                  file=sys.stderr, disable=len(points) < 50):
        area = {fam: estimate(cfg, fam) for fam in ("ice40", "ecp5")}
        total = None if any(v is None for v in res["cycles"].values()) \
            else sum(res["cycles"].values())
        rows.append({**point, "cycles": res["cycles"], "errors": res["errors"],
                     "total_cycles": total,
                     "area": {fam: a["total"] for fam, a in area.items()},
                     "luts_ice40": area["ice40"]["total"]["luts"],
                     "luts_ecp5": area["ecp5"]["total"]["luts"],
                     "fits": _fits(area)})
    fronts = {fam: pareto(rows, f"luts_{fam}", "total_cycles") for fam in ("ice40", "ecp5")}
    best = {}
    for part, (fam, _) in PARTS.items():
        fit = [r for r in rows if r["fits"][part] and r["total_cycles"] is not None]
        best[part] = min(fit, key=lambda r: (r["total_cycles"], r[f"luts_{fam}"]),
                         default=None)
    report = {"workloads": list(workloads), "seed": seed,
              "grid": {"tn": list(tns), "tm": list(tms), "window_k": list(window_ks),
                       "widths": [list(w) for w in widths], "buffers": list(buffers)},
              "parts": {p: {"family": f, **cap} for p, (f, cap) in PARTS.items()},
              "points": rows,
              "pareto": {fam: [_key(r) for r in front] for fam, front in fronts.items()},
              "best": {part: (_key(r) if r else None) for part, r in best.items()},
              "seconds": None, "verify": []}
    if verify:
        report["verify"] = _verify(fronts, points, verify, progress)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_json(out / "sweep.json", report)
    _plot(rows, fronts, out / "pareto.png")
    atomic_write(out / "report.md", _markdown(report))
    progress(f"wrote {out / 'sweep.json'}, {out / 'report.md'}, {out / 'pareto.png'}")
    return report


def _key(row):
    return {k: row[k] for k in ("tn", "tm", "window_k", "widths", "buffers")}


def _id(row):
    return json.dumps(_key(row), sort_keys=True)


def _cycles_job(args):
    return point_cycles(*args)


def _map_points(args, scheduler, jobs, progress):
    from tqdm import tqdm
    if scheduler:
        from tb.regress import dask_client
        with dask_client(scheduler) as client:
            return client.gather(client.map(_cycles_job, args, pure=False))
    if jobs <= 1:
        return [_cycles_job(a) for a in tqdm(args, desc="cycles", file=sys.stderr)]
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(tqdm(pool.map(_cycles_job, args), total=len(args), desc="cycles",
                         file=sys.stderr))


def _verify(fronts, points, k, progress):
    """Synthesize the ``k`` fastest Pareto points of each family with Yosys."""
    import tempfile

    from amaranth.back import verilog

    from hdl.estimate import estimate
    from hdl.synth import synthesize_blocks
    from hdl.top import Accelerator
    configs = {_id(p): c for p, c in points}
    rows = []
    for fam, front in fronts.items():
        for r in sorted(front, key=lambda r: r["total_cycles"])[:k]:
            cfg = configs[_id(r)]
            with tempfile.TemporaryDirectory(prefix="sweep-verify-") as tmp:
                path = Path(tmp) / "top.v"
                path.write_text(verilog.convert(Accelerator(cfg), name="top", emit_src=False))
                got = synthesize_blocks(path, "top", fam)
            measured = {key: sum(b[key] for b in got["blocks"].values())
                        for key in ("luts", "ffs", "dsp", "bram")}
            est = estimate(cfg, fam)["total"]
            row = {"family": fam, **_key(r), "estimate": {k2: est[k2] for k2 in measured},
                   "yosys": measured,
                   "lut_error_pct": round(100 * (est["luts"] - measured["luts"])
                                          / max(1, measured["luts"]), 1),
                   "yosys_seconds": got["seconds"]}
            progress(f"  verify {fam} {r['tn']}x{r['tm']} k{r['window_k']}: estimate "
                     f"{est['luts']} LUTs, Yosys {measured['luts']} "
                     f"({row['lut_error_pct']:+.1f} %); DSP {est['dsp']}/{measured['dsp']}, "
                     f"BRAM {est['bram']}/{measured['bram']}")
            rows.append(row)
    return rows


def _plot(rows, fronts, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for fam, color in (("ice40", "tab:green"), ("ecp5", "tab:blue")):
        pts = [r for r in rows if r["total_cycles"] is not None]
        ax.scatter([r[f"luts_{fam}"] for r in pts], [r["total_cycles"] for r in pts],
                   s=10, alpha=0.3, color=color)
        front = fronts[fam]
        ax.step([r[f"luts_{fam}"] for r in front], [r["total_cycles"] for r in front],
                where="post", color=color, label=f"{fam} Pareto front", marker="o", ms=4)
    for part, (fam, cap) in PARTS.items():
        ax.axvline(cap["luts"], color="tab:green" if fam == "ice40" else "tab:blue",
                   ls=":", lw=1)
        ax.text(cap["luts"], ax.get_ylim()[1], f" {part}", rotation=90, va="top", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("LUTs (estimate, accelerator core)")
    ax.set_ylabel("cycles, all workloads (performance model)")
    ax.set_title("Design space: cycles vs area")
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def _name(r):
    return f"{r['tn']}x{r['tm']} k{r['window_k']} w{'/'.join(map(str, r['widths']))} " \
           f"{r['buffers']}"


def _markdown(report):
    rows = report["points"]
    wl = report["workloads"]
    lines = ["# Design-space sweep", "",
             f"{len(rows)} configurations; cycles from the performance model (exact against "
             f"the RTL), area from `python -m hdl.estimate` (fitted on Yosys; the "
             f"accelerator core, without the board's link and RAM). Workloads: "
             f"{', '.join(wl)}.", "",
             "## Best point per part (fewest cycles that fits)", "",
             "| part | configuration | cycles | LUTs | BRAM | DSP |",
             "|---|---|---:|---:|---:|---:|"]
    for part, key in report["best"].items():
        fam = report["parts"][part]["family"]
        if key is None:
            lines.append(f"| {part} | none fits | | | | |")
            continue
        r = next(r for r in rows if _key(r) == key)
        a = r["area"][fam]
        lines.append(f"| {part} | {_name(r)} | {r['total_cycles']} | {a['luts']} | "
                     f"{a['bram']} | {a['dsp']} |")
    for fam, front in report["pareto"].items():
        lines += ["", f"## Pareto front, {fam}", "", "| configuration | cycles | LUTs |",
                  "|---|---:|---:|"]
        for key in front:
            r = next(r for r in rows if _key(r) == key)
            lines.append(f"| {_name(r)} | {r['total_cycles']} | {r[f'luts_{fam}']} |")
    if report["verify"]:
        lines += ["", "## Estimate against Yosys (Pareto points)", "",
                  "| family | configuration | LUTs est. | LUTs Yosys | error | DSP est./Yosys "
                  "| BRAM est./Yosys |", "|---|---|---:|---:|---:|---:|---:|"]
        for v in report["verify"]:
            lines.append(f"| {v['family']} | {_name(v)} | {v['estimate']['luts']} | "
                         f"{v['yosys']['luts']} | {v['lut_error_pct']:+.1f} % | "
                         f"{v['estimate']['dsp']}/{v['yosys']['dsp']} | "
                         f"{v['estimate']['bram']}/{v['yosys']['bram']} |")
    lines += ["", "## Every point", "",
              "| configuration | " + " | ".join(wl) + " | total | LUTs ice40 | LUTs ecp5 | "
              "BRAM ice40 | BRAM ecp5 | DSP | fits |",
              "|---|" + "---:|" * (len(wl) + 6) + "---|"]
    for r in rows:
        fits = ", ".join(p for p, ok in r["fits"].items() if ok) or "none"
        lines.append(f"| {_name(r)} | " + " | ".join(
            str(r["cycles"][w]) if r["cycles"][w] is not None else "does not compile"
            for w in wl) + f" | {r['total_cycles'] or '-'} | {r['luts_ice40']} | "
            f"{r['luts_ecp5']} | {r['area']['ice40']['bram']} | {r['area']['ecp5']['bram']} | "
            f"{r['area']['ecp5']['dsp']} | {fits} |")
    lines += ["", f"Swept in {report['seconds']} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = ArgumentParser(prog="python -m tb.sweep",
                            description="Cycles (performance model) and area (estimate) over "
                                        "a grid of configurations, the parts each fits and "
                                        "the Pareto front.")
    parser.add_argument("-o", "--output", default="build/sweep", metavar="DIR",
                        help="where sweep.json, report.md and pareto.png go (default build/sweep)")
    parser.add_argument("--tn", default="1,2,4,8,16", help="Tn values (default 1,2,4,8,16)")
    parser.add_argument("--tm", default="2,4,8,16", help="Tm values (default 2,4,8,16)")
    parser.add_argument("--window-k", default="4,8,16",
                        help="NSM windows in multiples of Tm (default 4,8,16)")
    parser.add_argument("--widths", action="append", metavar="W,…",
                        help="a set of weight widths (repeatable; default 4,8,16)")
    parser.add_argument("--buffers", default="small,demo",
                        help=f"buffer sizes, from {', '.join(BUFFERS)} (default small,demo)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"from {', '.join(WORKLOADS)} (default all)")
    parser.add_argument("--verify", type=int, default=0, metavar="K",
                        help="synthesize the K fastest Pareto points per family with Yosys")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the points on the dask.distributed scheduler at ADDRESS "
                             "(tcp://HOST:PORT)")
    add_jobs(parser, "local processes for the performance model")
    add_seed(parser, "seed of the synthetic bench layers")
    args = parser.parse_args(argv)

    def body():
        from golden.contract.config import WINDOW_KS
        tns, tms, ks = _ints(args.tn, "tn"), _ints(args.tm, "tm"), _ints(args.window_k,
                                                                         "window-k")
        bad = [k for k in ks if k not in WINDOW_KS]
        if bad:
            raise UsageError(f"--window-k values must be from {WINDOW_KS}, not {bad}")
        widths = [tuple(_ints(w, "widths")) for w in (args.widths or ["4,8,16"])]
        for w in widths:
            if not set(w) <= {4, 8, 16}:
                raise UsageError(f"--widths must be a subset of 4,8,16, not {w}")
        buffers = [b.strip() for b in args.buffers.split(",") if b.strip()]
        bad = [b for b in buffers if b not in BUFFERS]
        if bad:
            raise UsageError(f"--buffers must be from {', '.join(BUFFERS)}, not {bad}")
        workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
        bad = [w for w in workloads if w not in WORKLOADS]
        if bad or not workloads:
            raise UsageError(f"--workloads must be from {', '.join(WORKLOADS)}, not {bad}")
        if args.verify < 0:
            raise UsageError(f"--verify must be 0 or more, not {args.verify}")
        out = output_dir(args.output, "-o/--output")
        run_sweep(out, tns=tns, tms=tms, window_ks=ks, widths=widths, buffers=buffers,
                  workloads=workloads, verify=args.verify, scheduler=args.scheduler,
                  jobs=args.jobs, seed=args.seed)
        return 0
    return run_main("python -m tb.sweep", body, errors=(RuntimeError,))


if __name__ == "__main__":
    sys.exit(main())
