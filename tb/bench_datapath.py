"""Benchmark: cycles per window of the NSM and of the composed slice against the
ideal ``ceil(pairs / tm)``, at bitmap densities 5/10/25/50/100 %.

``python -m tb.bench_datapath [-o build/bench] [--windows 48]`` runs the
Amaranth simulation with no stalls (producer always valid, consumer always
ready) and writes ``datapath.json`` and ``datapath.md``.  Cycles are counted
from the first window taken to the last result handed out, minus the
pipeline's fill and drain latency (the NSM's documented latency; for the slice,
measured on an empty tile).  A benchmark, not a test: nothing here passes or fails.

Two sweeps per density ``d``:

* *weight sparsity*: every neuron nonzero, the synapse bitmap at density ``d``;
* *neuron sparsity*: the synapse bitmap full, neurons nonzero at density ``d``.

The NSM alone can only lose to the ideal through windows without pairs (one
cycle each, nothing emitted).  The slice adds the SSM: a beat whose synapse
indices span ``k`` windows of ``4 * tm`` weights takes ``k`` cycles, which is
what neuron sparsity costs (the thesis' 4x bound from the SSM).
"""

import argparse
import sys
import time

import numpy as np

from golden.cli import ArgumentParser, atomic_json, atomic_write, output_dir, positive_int, run_main
from golden.twins.nsm import select
from golden.twins.ssm import tile_steps
from tb.sim.simstreams import run_streams, write_ports

DENSITIES = (0.05, 0.10, 0.25, 0.50, 1.00)


def _tile(rng, window, n_windows, nb_density, sb_density):
    n = window * n_windows
    nb = rng.random(n) < nb_density
    sb = rng.random(n) < sb_density
    return nb, sb


def bench_nsm(tm, nb_d, sb_d, n_windows, seed=0):
    from hdl.datapath.nsm import NSM
    from tb.sim.workloads import nsm_inputs
    window = 16 * tm
    rng = np.random.default_rng(seed)
    nb, sb = _tile(rng, window, n_windows, nb_d, sb_d)
    tile = {"nb": nb, "sb": sb, "neurons": np.arange(1, int(nb.sum()) + 1)}
    windows, neurons = nsm_inputs([tile], window)
    ideal = len(select(nb, sb, tm, window))
    n_out = max(1, ideal + (0 if ideal and (nb & sb)[-window:].any() else 1))
    dut = NSM(tm=tm)
    _, cycles = run_streams(dut, [(dut.i, windows), (dut.neurons, neurons)], n_out, seed=seed,
                            p_valid=1.0, p_ready=1.0, max_cycles=20 * n_windows * window)
    return {"cycles": cycles - dut.latency, "ideal": ideal, "windows": n_windows}


def bench_slice(tm, nb_d, sb_d, n_windows, tn=2, seed=0):
    from golden.twins.nsm import beats
    from hdl.datapath.slice import SparseSlice
    from tb.sim.workloads import slice_inputs
    window = 16 * tm
    rng = np.random.default_rng(seed)
    nb, sb = _tile(rng, window, n_windows, nb_d, sb_d)
    n_syn = int(sb.sum())
    luts = rng.integers(-100, 100, size=(tn, 256))
    weights = np.zeros((tn, nb.size), dtype=np.int64)
    codes = rng.integers(0, 16, size=(tn, n_syn))
    weights[:, sb] = np.take_along_axis(luts, codes, axis=1)
    from golden.contract.packing import pack
    words = [pack(codes[j], 4, tm) or [0] for j in range(tn)]
    neurons = np.where(nb, rng.integers(1, 100, size=nb.size), 0)
    tile = {"neurons_dense": neurons, "weights": weights, "sbm": sb, "slot": 4, "sb_base": 0,
            "words": words, "bias": np.zeros(tn, dtype=np.int64), "shift": 0,
            "activation": "identity",
            "nsm": {"nb": nb, "sb": sb, "neurons": neurons[nb]}}
    inputs = slice_inputs(luts, [tile], window)
    sb_depth = max(2, len(words[0]))
    dut = SparseSlice(tn=tn, tm=tm, sb_depth=1 << max(1, (sb_depth - 1).bit_length()))

    setup = write_ports([(dut.sb_write, inputs["sb_write"]), (dut.lut, inputs["lut"])])
    setup_cycles = len(inputs["sb_write"]) + len(inputs["lut"])
    feeds = [(dut.i, inputs["i"]), (dut.neurons, inputs["neurons"]),
             (dut.tile, inputs["tile"]), (dut.bias, inputs["bias"])]
    ideal = len(select(nb, sb, tm, window))
    ssm_total = sum(len(st) for st in tile_steps([[s for _, s in pairs]
                                                  for pairs, _ in beats(nb, sb, tm, window)], tm))
    _, cycles = run_streams(dut, feeds, 1, seed=seed, p_valid=1.0, p_ready=1.0, setup=setup,
                            max_cycles=setup_cycles + 40 * n_windows * window)
    # The single output leaves after the last beat drains through H-tree, SB, SSM, WDM, PEFU.
    return {"cycles": cycles - setup_cycles, "ideal": ideal, "ssm_steps": ssm_total,
            "windows": n_windows}


def main(argv=None):
    parser = ArgumentParser(prog="python -m tb.bench_datapath", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="build/bench", help="output directory")
    parser.add_argument("--windows", type=positive_int, default=48, help="NSM windows per run")
    parser.add_argument("--tm", type=int, action="append", help="Tm values (default 4, 16)")
    args = parser.parse_args(argv)
    return run_main("python -m tb.bench_datapath", lambda: _run(args))


def _run(args):
    from golden.contract.params import check_pow2
    tms = [check_pow2("--tm", tm, 1, 64) for tm in args.tm or [4, 16]]
    out = output_dir(args.output, "-o/--output")
    rows = []
    start = time.perf_counter()
    for tm in tms:
        # The slice's fill and drain: an empty tile is one (empty) beat through the pipe.
        fill = bench_slice(tm, 0.0, 0.0, 1)["cycles"] - 1
        for sweep, (nb_of, sb_of) in (("weight sparsity", (lambda d: 1.0, lambda d: d)),
                                     ("neuron sparsity", (lambda d: d, lambda d: 1.0))):
            for d in DENSITIES:
                nsm = bench_nsm(tm, nb_of(d), sb_of(d), args.windows)
                sl = bench_slice(tm, nb_of(d), sb_of(d), max(4, args.windows // 4))
                sl["cycles"] -= fill
                row = {"tm": tm, "sweep": sweep, "density": d,
                       "nsm_cycles": nsm["cycles"], "nsm_ideal": nsm["ideal"],
                       "nsm_windows": nsm["windows"],
                       "slice_cycles": sl["cycles"], "slice_ideal": sl["ideal"],
                       "slice_ssm_steps": sl["ssm_steps"], "slice_windows": sl["windows"]}
                rows.append(row)
                print(f"tm={tm:2d} {sweep:15s} d={d:4.0%}  NSM {nsm['cycles']:5d} cycles "
                      f"(ideal {nsm['ideal']:5d})  slice {sl['cycles']:5d} "
                      f"(ideal {sl['ideal']:5d}, SSM steps {sl['ssm_steps']:5d})", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_json(out / "datapath.json", {"rows": rows})
    lines = ["# Datapath cycles against the ideal ceil(pairs/Tm)", "",
             "No stalls; fill/drain latency subtracted.  NSM: cycles per window and ratio to "
             "the ideal.  Slice (NSM, SSM sequencer, H-tree, PEs): total cycles of one tile, "
             "the SSM's own bound (steps), the ideal.", "",
             "| Tm | sweep | density | NSM cycles/window | NSM ideal/window | NSM cycles/ideal "
             "| slice cycles | SSM steps | slice ideal | slice cycles/ideal |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["nsm_cycles"] / max(1, r["nsm_ideal"])
        sratio = r["slice_cycles"] / max(1, r["slice_ideal"])
        lines.append(f"| {r['tm']} | {r['sweep']} | {r['density']:.0%} | "
                     f"{r['nsm_cycles'] / r['nsm_windows']:.2f} | "
                     f"{r['nsm_ideal'] / r['nsm_windows']:.2f} | {ratio:.2f} | "
                     f"{r['slice_cycles']} | {r['slice_ssm_steps']} | {r['slice_ideal']} | "
                     f"{sratio:.2f} |")
    atomic_write(out / "datapath.md", "\n".join(lines) + "\n")
    print(f"wrote {out / 'datapath.md'} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
