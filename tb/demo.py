"""``make demo``: the whole story on a network that really learned something.

``python -m tb.demo [-o build/demo] [--tn 4 --tm 4] [--images 20] [--model mlp|cnn]``

(``--model cnn``, ``make demo MODEL=cnn``: the digits CNN instead, :func:`run_cnn_demo`.)

1. trains an MLP (64-128-64-10) on scikit-learn's bundled digits (seeded);
2. coarse-grained pruning with masked retraining, local quantization, Huffman:
   the model file and the compression report beside the fine-grained Deep
   Compression baseline (:mod:`golden.digits`, :mod:`golden.compress`);
3. compiles it for a small accelerator configuration (:mod:`golden.compiler`);
4. runs ``--images`` test images through the generated Verilog under cocotb, in
   sparse and in dense mode (:mod:`tb.run`), every output compared bit for bit
   with the golden model;
5. generates the per-module Verilog and the area table for that configuration
   (Yosys, iCE40 and ECP5);

then prints float / fixed-point / RTL accuracy, compression beside the
baseline, sparse and dense cycles and the speed-up, and writes
``report.md``, ``report.json`` and plots (PNG) into the output directory.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from golden.cli import (
    ArgumentParser,
    UsageError,
    add_seed,
    atomic_json,
    atomic_savefig,
    atomic_write,
    output_dir,
    positive_int,
    run_main,
)

__all__ = ["run_demo", "demo_config", "run_cnn_demo", "cnn_demo_config", "main"]


def demo_config(tn, tm):
    """The demo's configuration (the ``demo`` profile of
    :data:`golden.contract.config.PROFILES`) at ``tn``/``tm``: the small test buffers
    with the thesis' instruction buffer (32 KB: the 20 images' program in one
    batch), NBin (8 KB: a pass's inputs side by side, loaded once) and an 8 KB
    NBout (output blocks of many images side by side, so synapse reuse loads each
    chunk of weights once for all of them)."""
    from golden.contract.config import PROFILES, small_config
    return small_config(**{**PROFILES["demo"], "tn": tn, "tm": tm})


def _plots(out, report, digits):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    comp = digits["mlp"]["compression"]
    names = [r["name"] for r in comp["layers"]] + ["total"]
    coarse = [r["r_c"] for r in comp["layers"]] + [comp["total"]["r_c"]]
    base = [r["baseline"]["r_c"] for r in comp["layers"]] + [comp["total"]["baseline"]["r_c"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(names))
    ax.bar(x - 0.2, coarse, 0.4, label="coarse-grained (this work)")
    ax.bar(x + 0.2, base, 0.4, label="fine-grained (Deep Compression)")
    ax.set_xticks(x, names)
    ax.set_ylabel("compression ratio r_c (x)")
    ax.set_title("Digits MLP: compression")
    ax.legend()
    fig.tight_layout()
    atomic_savefig(fig, out / "compression.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    kinds = ["total cycles", "compute cycles", "ideal compute"]
    sp = [report["cycles_sparse"], report["compute_cycles_sparse"], report["ideal_cycles_sparse"]]
    de = [report["cycles_dense"], report["compute_cycles_dense"], report["ideal_cycles_dense"]]
    x = np.arange(len(kinds))
    ax.bar(x - 0.2, sp, 0.4, label="sparse")
    ax.bar(x + 0.2, de, 0.4, label="dense (ACC-dense)")
    ax.set_xticks(x, kinds)
    ax.set_ylabel(f"cycles for {report['images']} images")
    ax.set_title(f"RTL cycles, Tn={report['tn']} Tm={report['tm']}: "
                 f"speed-up {report['speedup']:.2f}x")
    ax.legend()
    fig.tight_layout()
    atomic_savefig(fig, out / "cycles.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = ["float", "pruned+retrained", "quantized", "fixed-point", "RTL"]
    m = digits["mlp"]
    vals = [m["accuracy_float"], m["accuracy_pruned"], m["accuracy_quantized"],
            m["accuracy_fixed"], report["accuracy_rtl"]]
    ax.bar(labels, vals, color=["C0", "C1", "C2", "C3", "C4"])
    ax.set_ylim(min(vals) - 0.05, 1.0)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Digits MLP accuracy (RTL on {report['images']} images)")
    fig.tight_layout()
    atomic_savefig(fig, out / "accuracy.png", dpi=120)
    plt.close(fig)


def _energy(model, x, cfg, runs, table):
    """Energy per inference (image), sparse and dense, from the same programs the RTL
    ran (their event counts checked against its counters), and the effects of the
    weights' slot width (as compressed, then 8 and 16 bits holding the same values)
    and of the Encoder."""
    from golden.energy import energy_summary
    from golden.perf.events import counter_mismatches
    from tb.bench import width_energy
    out = {}
    for mode, r in runs.items():
        e = energy_summary(r["compiled"], table, per=len(x))   # the programs the RTL ran
        bad = counter_mismatches(e["events"], r)
        if bad:
            raise AssertionError(f"RTL {mode}: the event counts differ from the RTL's "
                                 f"counters: {'; '.join(bad)}")
        out[mode] = e
    out["by_width"] = width_energy(model, x, cfg, table)
    return out


def _accuracy_rows(report, images):
    """The report table's rows of accuracy (every step, then the RTL's), sparsity and
    compression."""
    return [
        f"| accuracy, float (360 test images) | {report['accuracy_float']:.4f} |",
        f"| accuracy, pruned + retrained | {report['accuracy_pruned']:.4f} |",
        f"| accuracy, quantized | {report['accuracy_quantized']:.4f} |",
        f"| accuracy, fixed-point golden (360 images) | {report['accuracy_fixed']:.4f} |",
        f"| accuracy, fixed-point golden ({images} images) | "
        f"{report['accuracy_fixed_subset']:.4f} |",
        f"| accuracy, RTL ({images} images) | {report['accuracy_rtl']:.4f} |",
        f"| sparsity | {100 * report['sparsity']:.1f} % |",
        f"| compression ratio r_c (coarse) | {report['compression_ratio']:.1f}x |",
        f"| compression ratio r_c (Deep Compression baseline) | "
        f"{report['baseline_compression_ratio']:.1f}x |"]


def run_demo(out, *, tn=4, tm=4, images=20, epochs=200, seed=0, area=True, log=print,
             energy_table=None):
    """Run the demo; return the report dict (also written to ``out``).
    ``energy_table``: a JSON file of energy entries replacing the default's
    (:func:`golden.energy.load_table`)."""
    from tqdm import tqdm

    from golden.energy import load_table
    table = load_table(energy_table)

    from golden.contract.model import load
    from golden.data.digits import load_data
    from golden.data.digits import run as digits_run
    from golden.twins.infer import infer, quantize_input
    from tb.run import run_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = ["train + compress (digits MLP)", "RTL, sparse", "RTL, dense"] + \
        (["Verilog + area"] if area else [])
    bar = tqdm(steps, desc="demo", unit="step", file=sys.stderr)
    t_start = time.perf_counter()

    bar.set_postfix_str(steps[0])
    digits = digits_run(out / "digits", epochs=epochs, seed=seed, with_cnn=False,
                        log=lambda s: bar.write(f"  {s}"))
    bar.update()
    model = load(out / "digits" / "mlp.npz")
    _, xte, _, yte = load_data(seed)
    x = quantize_input(xte[:images], 8)
    labels = yte[:images]
    cfg = demo_config(tn, tm)
    golden_sub = infer(model, x)

    runs = {}
    for dense in (False, True):
        mode = "dense" if dense else "sparse"
        bar.set_postfix_str(f"RTL {mode}: {images} images on the generated Verilog")
        # (dense under the sparse run's tiling: the same batches, reuse and blocks)
        runs[mode] = run_model(model, x, cfg, dense=dense, workdir=out / f"rtl_{mode}",
                               like=runs.get("sparse"))
        r = runs[mode]
        bar.write(f"  RTL {mode}: {'bit-exact' if r['bit_exact'] else 'MISMATCH ' + r['mismatch']}"
                  f", {r['cycles']} cycles (compute {r['compute_cycles']}, ideal "
                  f"{r['ideal_cycles']}), simulated in {r['sim_seconds']:.0f} s")
        bar.update()

    area_rows = None
    if area:
        from hdl.generate import main as generate_main
        from hdl.synth import main as synth_main
        bar.set_postfix_str("Verilog + area (Yosys)")
        vdir = out / "verilog"
        generate_main(["all", "--tn", str(tn), "--tm", str(tm), "-o", str(vdir)])
        synth_main([str(vdir), "-o", str(out)])
        area_rows = json.loads((out / "area.json").read_text())
        bar.update()
    bar.close()

    energy = _energy(model, x, cfg, runs, table)
    esp, ede = energy["sparse"], energy["dense"]
    sp, de = runs["sparse"], runs["dense"]
    rtl_pred = sp["outputs"].argmax(axis=1)
    comp = digits["mlp"]["compression"]["total"]
    report = {
        "tn": tn, "tm": tm, "images": int(images), "seed": seed,
        "bit_exact": bool(sp["bit_exact"] and de["bit_exact"]
                          and np.array_equal(sp["outputs"], golden_sub)
                          and np.array_equal(de["outputs"], golden_sub)),
        "accuracy_float": digits["mlp"]["accuracy_float"],
        "accuracy_pruned": digits["mlp"]["accuracy_pruned"],
        "accuracy_quantized": digits["mlp"]["accuracy_quantized"],
        "accuracy_fixed": digits["mlp"]["accuracy_fixed"],
        "accuracy_fixed_subset": float((golden_sub.argmax(axis=1) == labels).mean()),
        "accuracy_rtl": float((rtl_pred == labels).mean()),
        "compression_ratio": comp["r_c"],
        "baseline_compression_ratio": comp["baseline"]["r_c"],
        "sparsity": comp["sparsity"], "R_irr": comp["R_irr"],
        "cycles_sparse": sp["cycles"], "cycles_dense": de["cycles"],
        # per batch and layer the reuse strategy; dense runs under the sparse tiling
        "reuse": [[t["strategy"] for t in ts] for ts in sp["tilings"]],
        "reuse_dense": [[t["strategy"] for t in ts] for ts in de["tilings"]],
        "batches": len(sp["parts"]),
        "compute_cycles_sparse": sp["compute_cycles"], "compute_cycles_dense": de["compute_cycles"],
        "ideal_cycles_sparse": sp["ideal_cycles"], "ideal_cycles_dense": de["ideal_cycles"],
        "speedup": de["cycles"] / max(1, sp["cycles"]),
        # the bound the sparsity allows (ideal dense / ideal sparse) and the share reached
        "ideal_speedup": de["ideal_cycles"] / max(1, sp["ideal_cycles"]),
        "speedup_of_ideal": (de["cycles"] / max(1, sp["cycles"]))
        / (de["ideal_cycles"] / max(1, sp["ideal_cycles"])),
        # per layer the groups of Tn outputs the sparse program leaves out: without a
        # weight (folded into the next layer's bias), and unused by the next layer
        "dead_groups": {layer["name"]: layer.get("dead_groups", 0) for layer in sp["layers"]},
        "unused_groups": {layer["name"]: layer.get("unused_groups", 0)
                          for layer in sp["layers"]},
        "compute_speedup": de["compute_cycles"] / max(1, sp["compute_cycles"]),
        "sim_cycles_per_second": sp["sim_cycles_per_second"],
        # Energy per inference (one image), pJ (golden.energy)
        "energy_pj_sparse": esp["total_pj"], "energy_pj_dense": ede["total_pj"],
        "energy_offchip_share": esp["offchip_share"],
        "energy_onchip_buffer_share": esp["onchip_buffer_share"],
        "energy_offchip_share_dense": ede["offchip_share"],
        "energy_onchip_buffer_share_dense": ede["onchip_buffer_share"],
        "energy_components_sparse": esp["components"],
        "energy_components_dense": ede["components"],
        "energy_pj_by_width": energy["by_width"],
        "energy_dense_neurons_pj": esp["dense_neurons_pj"],
        "energy_table": {"name": table["name"], "node": table["node"],
                         "entries": table["entries"]},
        "events_sparse": esp["events"], "events_dense": ede["events"],
        "area": None if area_rows is None else {
            m: {f: {k: r[k] for k in ("luts", "ffs", "dsp", "bram")} for f, r in fams.items()}
            for m, fams in area_rows["modules"].items()},
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "config": cfg.as_dict(),
    }
    atomic_json(out / "report.json", report)
    _plots(out, report, digits)
    from tb.bench import energy_markdown, energy_plot
    energy_plot([("sparse", esp["components"]), ("dense", ede["components"])],
                out / "energy.png", f"Digits MLP, energy per image ({table['name']})")
    md = [
        "# sparsegen demo: digits MLP on the generated Verilog", "",
        f"Configuration: Tn = {tn}, Tm = {tm} ({cfg.window}-position NSM windows; the "
        f"thesis' instruction buffer and NBout, {cfg.ib_bytes // 1024} KB and "
        f"{cfg.nbout_bytes // 1024} KB, so the images run as one batch and share each "
        f"chunk of weights), {images} test images, seed {seed}; per layer the reuse "
        f"strategy: {', '.join(report['reuse'][0])} (dense under the same tiling).", "",
        "| | value |", "|---|---:|",
        "| bit-exact (RTL = golden, sparse and dense) | "
        f"{'yes' if report['bit_exact'] else 'NO'} |",
        *_accuracy_rows(report, images),
        f"| R(Irr) | {report['R_irr']:.1f}x |",
        f"| cycles sparse / dense | {report['cycles_sparse']} / {report['cycles_dense']} |",
        f"| speed-up (whole run) | {report['speedup']:.2f}x |",
        f"| its bound, ideal dense / ideal sparse (reached) | {report['ideal_speedup']:.2f}x "
        f"({report['speedup_of_ideal']:.2f}) |",
        "| groups left out (sparse): without a weight; unused by the next layer | "
        + (", ".join(f"{k} {n}; {report['unused_groups'][k]}"
                     for k, n in report["dead_groups"].items()
                     if n or report["unused_groups"][k]) or "none")
        + " |",
        f"| compute cycles sparse / dense (ideal) | {report['compute_cycles_sparse']} "
        f"({report['ideal_cycles_sparse']}) / {report['compute_cycles_dense']} "
        f"({report['ideal_cycles_dense']}) |",
        f"| compute speed-up | {report['compute_speedup']:.2f}x |",
        f"| energy per image sparse / dense | {esp['total_pj'] / 1e3:.1f} nJ / "
        f"{ede['total_pj'] / 1e3:.1f} nJ ({ede['total_pj'] / esp['total_pj']:.2f}x) |",
        f"| off-chip share of the energy (sparse) | {100 * esp['offchip_share']:.1f} % |",
        f"| wall time | {report['wall_seconds']:.0f} s |", "",
        *energy_markdown([("digits MLP", esp, ede, energy["by_width"])], table), "",
        "Plots: compression.png, cycles.png, accuracy.png, energy.png.  Per-layer compression: "
        "digits/mlp_report/report.md.  Programs: rtl_sparse/program.lst, rtl_dense/program.lst."
        + ("  Verilog: verilog/; area: area.md." if area else ""),
    ]
    atomic_write(out / "report.md", "\n".join(md) + "\n")
    return report


def cnn_demo_config(tn, tm):
    """The CNN demo's configuration: :func:`demo_config` with a 16 KB NBin, 2 KB
    NIBin and 1 KB SIB: an NBin half holds a max-pool window's four 3x3 patches of
    pixel records side by side (36 windows; the small test buffers hold eight), and
    a SIB half all of conv2's shared bitmaps (its weights load once, not once per
    patch)."""
    from golden.contract.config import small_config
    return small_config(tn, tm, ib_bytes=32 * 1024, nbout_bytes=8 * 1024,
                        nbin_bytes=16 * 1024, nibin_bytes=2048, sib_bytes=1024)


def run_cnn_demo(out, *, tn=4, tm=4, images=20, epochs=200, seed=0, log=print):
    """``make demo MODEL=cnn``: the digits CNN (conv 3x3 8 → max-pool 2 → conv 3x3 16
    → max-pool 2 → FC 10) trained and compressed, run on the generated Verilog as
    one program per batch of images (the accelerator gathers its patches from
    memory), beside the host-im2col route, sparse and dense; returns the report
    dict (also ``report.json``/``report.md`` in ``out``).

    The dense baseline runs on the im2col route: its patches hold exactly
    ``C·kh·kw`` values, where the on-chip route's pixel records pad each pixel's
    channels to whole NSM windows (which costs a dense accelerator every padded
    position, and the sparse one a window visit per record)."""
    from tqdm import tqdm

    from golden.contract.model import load
    from golden.data.digits import load_data
    from golden.data.digits import run as digits_run
    from golden.twins.conv import infer_cnn
    from golden.twins.infer import quantize_input
    from tb.run import run_cnn, run_cnn_im2col

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs_of = [("sparse", "on-chip"), ("sparse", "im2col"), ("dense", "im2col")]
    steps = ["train + compress (digits CNN)"] + [f"RTL, {m}, {r}" for m, r in runs_of]
    bar = tqdm(steps, desc="demo cnn", unit="step", file=sys.stderr)
    t_start = time.perf_counter()
    bar.set_postfix_str(steps[0])
    digits = digits_run(out / "digits", epochs=epochs, seed=seed, with_cnn=True,
                        log=lambda s: bar.write(f"  {s}"))
    bar.update()
    model = load(out / "digits" / "cnn.npz")
    _, xte, _, yte = load_data(seed)
    x = quantize_input(xte[:images], 8)
    labels = yte[:images]
    shape = (1, 8, 8)
    cfg = cnn_demo_config(tn, tm)
    golden_sub = infer_cnn(model, x, shape)
    runs = {}
    for mode, route in runs_of:
        bar.set_postfix_str(f"RTL {mode} ({route}): {images} images")
        run = run_cnn if route == "on-chip" else run_cnn_im2col
        r = runs[mode, route] = run(model, x, cfg, shape, dense=mode == "dense",
                                    workdir=out / f"rtl_{mode}")
        bar.write(f"  RTL {mode}, {route}: "
                  f"{'bit-exact' if r['bit_exact'] else 'MISMATCH ' + str(r['mismatch'])}, "
                  f"{r['cycles']} cycles (compute {r['compute_cycles']}), "
                  f"{r['programs']} program(s)")
        bar.update()
    bar.close()
    on, im, de = runs["sparse", "on-chip"], runs["sparse", "im2col"], runs["dense", "im2col"]
    cnn = digits["cnn"]
    comp = cnn["compression"]["total"]

    def moved(r):
        return r["mem_reads"] + r["mem_writes"]

    report = {
        "model": "cnn", "tn": tn, "tm": tm, "images": int(images), "seed": seed,
        "bit_exact": bool(all(r["bit_exact"] and np.array_equal(r["outputs"], golden_sub)
                              for r in runs.values())),
        "accuracy_float": cnn["accuracy_float"], "accuracy_pruned": cnn["accuracy_pruned"],
        "accuracy_quantized": cnn["accuracy_quantized"], "accuracy_fixed": cnn["accuracy_fixed"],
        "accuracy_fixed_subset": float((golden_sub.argmax(axis=1) == labels).mean()),
        "accuracy_rtl": float((on["outputs"].argmax(axis=1) == labels).mean()),
        "compression_ratio": comp["r_c"], "baseline_compression_ratio": comp["baseline"]["r_c"],
        "sparsity": comp["sparsity"],
        "cycles_sparse": on["cycles"], "compute_cycles_sparse": on["compute_cycles"],
        "ideal_cycles_sparse": on["ideal_cycles"], "programs_sparse": on["programs"],
        "layer_cycles_sparse": on["layer_cycles"], "model_cycles_sparse": on["model_cycles"],
        "cycles_sparse_im2col": im["cycles"], "programs_sparse_im2col": im["programs"],
        "compute_cycles_sparse_im2col": im["compute_cycles"],
        "cycles_dense": de["cycles"], "compute_cycles_dense": de["compute_cycles"],
        "ideal_cycles_dense": de["ideal_cycles"], "programs_dense": de["programs"],
        "speedup": de["cycles"] / max(1, on["cycles"]),
        "speedup_im2col": de["cycles"] / max(1, im["cycles"]),
        "words_moved_sparse": moved(on), "words_moved_sparse_im2col": moved(im),
        "words_moved_dense": moved(de),
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "config": cfg.as_dict(),
    }
    atomic_json(out / "report.json", report)
    layers = ", ".join(f"{k} {v}" for k, v in (on["layer_cycles"] or {}).items())
    md = [
        "# sparsegen demo: digits CNN on the generated Verilog", "",
        f"Configuration: Tn = {tn}, Tm = {tm} ({cfg.window}-position NSM windows; NBin "
        f"{cfg.nbin_bytes // 1024} KB, instruction buffer {cfg.ib_bytes // 1024} KB), "
        f"{images} test images, seed {seed}.  *On-chip*: the whole CNN is one program per "
        f"batch of images (the host writes the images, the accelerator gathers every "
        f"patch from the maps in memory, the host reads the classes); *im2col*: the old "
        f"route, the host gathers each conv layer's patches and runs a program per layer.",
        "", "| | value |", "|---|---:|",
        "| bit-exact (RTL = golden, every run) | "
        f"{'yes' if report['bit_exact'] else 'NO'} |",
        *_accuracy_rows(report, images),
        f"| cycles, sparse on-chip ({on['programs']} program(s)) | {on['cycles']} |",
        f"| cycles per layer, sparse on-chip (performance model = RTL: "
        f"{'yes' if on['model_cycles'] == on['cycles'] else 'NO'}) | {layers} |",
        f"| cycles, sparse im2col ({im['programs']} programs) | {im['cycles']} |",
        f"| cycles, dense im2col ({de['programs']} programs) | {de['cycles']} |",
        f"| speed-up, dense im2col / sparse on-chip | {report['speedup']:.2f}x |",
        f"| speed-up, dense / sparse, both im2col | {report['speedup_im2col']:.2f}x |",
        f"| memory words moved by the accelerator: on-chip / im2col (sparse) | "
        f"{moved(on)} / {moved(im)} |",
        f"| wall time | {report['wall_seconds']:.0f} s |", "",
        "Per-layer compression: digits/cnn_report/report.md.  Programs: rtl_sparse/"
        "program*.lst.",
    ]
    atomic_write(out / "report.md", "\n".join(md) + "\n")
    return report


def main(argv=None):
    from golden.contract.config import DEFAULT_TM, DEFAULT_TN
    p = ArgumentParser(prog="python -m tb.demo", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="build/demo", help="output directory")
    p.add_argument("--tn", type=int, default=DEFAULT_TN, help=f"PEs (default {DEFAULT_TN})")
    p.add_argument("--tm", type=int, default=DEFAULT_TM,
                   help=f"multipliers per PE (default {DEFAULT_TM})")
    p.add_argument("--images", type=int, default=20, help="test images run on the RTL")
    p.add_argument("--epochs", type=positive_int, default=200, help="MLP training epochs")
    add_seed(p, "seed of the data split, training and compression")
    p.add_argument("--no-area", action="store_true", help="skip the Yosys area table")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                   help="mlp (default): the digits MLP; cnn: the digits CNN as one program "
                        "per batch of images, beside the host-im2col route (no area table "
                        "or energy: see run_cnn_demo)")
    p.add_argument("--energy-table", metavar="FILE",
                   help="JSON energy table replacing entries of the default (45 nm, Horowitz "
                        "ISSCC 2014; see python -m golden.energy --help)")
    args = p.parse_args(argv)

    def body():
        if not 1 <= args.images <= 360:
            raise UsageError(f"--images must be in 1..360 (the test split), not {args.images}")
        from golden.energy import load_table
        demo_config(args.tn, args.tm)
        output_dir(args.output, "-o/--output")
        load_table(args.energy_table)          # a bad table fails before any work
        if args.model == "cnn":
            cnn_demo_config(args.tn, args.tm)
            r = run_cnn_demo(args.output, tn=args.tn, tm=args.tm, images=args.images,
                             epochs=args.epochs, seed=args.seed)
        else:
            r = run_demo(args.output, tn=args.tn, tm=args.tm, images=args.images,
                         epochs=args.epochs, seed=args.seed, area=not args.no_area,
                         energy_table=args.energy_table)
        print()
        print(Path(args.output, "report.md").read_text())
        return 0 if r["bit_exact"] else 1
    return run_main("python -m tb.demo", body, errors=(RuntimeError,))


if __name__ == "__main__":
    sys.exit(main())
