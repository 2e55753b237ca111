"""``make bench``: cycles against the ideal, sparse against dense on the same RTL,
the performance model against the RTL, the thesis' table 5.2 layers, tool figures.

::

    python -m tb.bench [-o build/bench] [--quick] [--full] [--sim verilator|icarus]

Writes ``report.md`` (a person reads it), ``bench.json`` (a script reads it) and
PNG plots into the output directory, and prints a summary.  A benchmark: it
records the goals as met or not, it never fails on them (a mismatch between
the RTL and the golden model still fails: exit status 1).

**Benchmark layers.**  The FC layers of the thesis' comparison (AlexNet fc6,
fc7, fc8; VGG16 fc6, fc7, fc8) at the thesis' weight densities (AlexNet: table
3.5 — 8.9 %, 8.9 %, 25.2 %, blocks (32, 32), (32, 32), (16, 16); VGG16: EIE's
table, which table 5.2 compares against — 4 %, 4 %, 23 %) and EIE's neuron
(activation) densities (35.1, 35.3, 37.5; 18.3, 37.5, 41.1 %).  On the RTL
they run scaled down (each dimension divided by ``scale``, blocks by
``scale`` too, at least Tm) at Tn = Tm = 4, with weights streamed from memory
as the compiler schedules them: the RTL's cycles in sparse and in dense mode,
the ideal ``Σ ceil(pairs / Tm)``, the model's prediction and its error.

**Conv layers.**  AlexNet's 3x3 conv layers (conv3–conv5) at table 3.5's weight
densities, channels scaled like the FC layers, on a small input map, run as the
FC datapath over their patches (:mod:`golden.twins.conv`): the same columns, and the
RTL's convolution checked against ``golden.twins.conv.conv2d``.

**Table 5.2.**  The same six layers at full size, Tn = Tm = 16, with every
weight on chip as the thesis assumes for this comparison (buffers sized to
hold a layer): compute cycles from the performance model (the RTL would take
hours of simulation at this size; the model is the one validated above),
beside the thesis' µs and EIE's at 1 GHz (1 µs = 1000 cycles).

**Full size on the RTL** (``--full``).  AlexNet fc8 at full size (4096 x 1000,
the thesis' densities) on the generated Verilog at Tn = Tm = 16 with the
buffers of the table 5.2 row (Verilator): the compute unit's cycles beside the
model's and the thesis', and the Verilog's generation time, lines and the
simulator's build time (``full_size`` in ``bench.json``).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from golden.cli import (
    ArgumentParser,
    add_seed,
    atomic_json,
    atomic_savefig,
    atomic_write,
    output_dir,
    run_main,
    simulator,
)
from golden.contract.isa import Op

__all__ = ["LAYERS", "CONV_LAYERS", "THESIS_TABLE_5_2", "run_bench", "energy_plot",
           "energy_markdown", "energy_lines", "width_energy", "main"]

# name: (n_in, n_out, weight density, neuron density, block)
LAYERS = {
    "alexnet-fc6": (9216, 4096, 0.089, 0.351, (32, 32)),
    "alexnet-fc7": (4096, 4096, 0.089, 0.353, (32, 32)),
    "alexnet-fc8": (4096, 1000, 0.252, 0.375, (16, 16)),
    "vgg16-fc6": (25088, 4096, 0.04, 0.183, (32, 32)),
    "vgg16-fc7": (4096, 4096, 0.04, 0.375, (32, 32)),
    "vgg16-fc8": (4096, 1000, 0.23, 0.411, (16, 16)),
}
# name: (out channels, in channels, kernel, weight density, neuron density).  AlexNet's
# 3x3 conv layers with table 3.5's sparsities (64.1, 66.6, 65.9 %); conv4 and conv5
# take the 192 input channels of one of AlexNet's two groups.  The thesis' tables give
# no neuron densities for conv layers: 0.5 is assumed (ReLU outputs), and the
# measured density of the patches (padding zeros included) is reported.
CONV_LAYERS = {
    "alexnet-conv3": (384, 256, 3, 0.359, 0.5),
    "alexnet-conv4": (384, 192, 3, 0.334, 0.5),
    "alexnet-conv5": (256, 192, 3, 0.341, 0.5),
}
# Thesis table 5.2 (µs at 1 GHz): ACC (the thesis' accelerator) and EIE.
THESIS_TABLE_5_2 = {
    "alexnet-fc6": (18.43, 30.30), "alexnet-fc7": (8.19, 12.20), "alexnet-fc8": (5.13, 9.90),
    "vgg16-fc6": (25.23, 34.40), "vgg16-fc7": (4.12, 8.70), "vgg16-fc8": (5.09, 7.50),
}
SOURCE = ("thesis table 3.5 (AlexNet weight densities), EIE table via thesis table 5.2 "
          "(VGG16 weight densities, neuron densities)")


def _scaled(name, scale, tm):
    n_in, n_out, wd, nd, block = LAYERS[name]
    b = tuple(max(tm, k // scale) for k in block)
    return max(n_in // scale, 4 * tm), max(n_out // scale, 4), wd, nd, b


def _layer_row(name, scale, tn, tm, sim, runners, seed, workdir, table=None, batch=1):
    """One benchmark FC layer on ``batch`` input vectors, sparse and dense on the RTL;
    ``runners`` maps a configuration to its simulator build (reused: a build per
    configuration)."""
    from golden.data.synthetic import random_inputs, random_sparse_fc
    n_in, n_out, wd, nd, block = _scaled(name, scale, tn)
    rng = np.random.default_rng(seed)
    model = random_sparse_fc(rng, n_in, n_out, wd, 4, block=block, name=name)
    x = random_inputs(rng, n_in, vectors=batch, density=nd)
    row, cfg = _measure(model, x, tn, tm, sim, runners, workdir, f"{name} ({n_out}x{n_in})",
                        table)
    row.pop("outputs")
    row["energy_pj_by_width"] = width_energy(model, x, cfg, table)
    return {"name": name, "kind": "fc", "shape": [n_out, n_in], "scale": scale,
            "block": list(block), "weight_density": wd, "neuron_density": nd, **row}


def _conv_row(name, scale, size, tn, tm, sim, runners, seed, workdir, table=None):
    """One benchmark conv layer (``size``×``size`` input, padding keeps it), run
    as the FC datapath over its patches (``golden.twins.conv``), sparse and dense."""
    from golden.compression.pipeline import CompressConfig, compress_layer
    from golden.contract.model import Model, decompress
    from golden.twins.conv import as_fc, conv2d, im2col, out_size
    o, c, k, wd, nd = CONV_LAYERS[name]
    o, c = max(o // scale, tn), max(c // scale, 1)
    block = (max(16 // scale, tn), 1, 1, 1)
    rng = np.random.default_rng(seed)
    cc = CompressConfig(block_conv=block, sparsity_conv=1 - wd, bits_conv=8, steps=1)
    layer, _ = compress_layer(name, rng.normal(size=(o, c, k, k)) * 0.3,
                              rng.normal(size=o) * 0.1, "conv", cc, f_in=8, f_out=8,
                              activation="relu", extra={"stride": 1, "padding": k // 2})
    img = rng.integers(1, 256, size=(c, size, size))
    img[rng.random(img.shape) >= nd] = 0
    patches = im2col(img, k, k, 1, k // 2).astype(np.int16)
    # (one inference: the whole input map, all its patches)
    row, cfg = _measure(Model([as_fc(layer)]), patches, tn, tm, sim, runners, workdir,
                        f"{name} ({o}x{c}x{k}x{k} on {size}x{size})", table, per=1)
    row["energy_pj_by_width"] = width_energy(Model([as_fc(layer)]), patches, cfg, table, per=1)
    # The patch route against the direct convolution (first principles).
    hw = out_size(size, k, 1, k // 2)
    got = row.pop("outputs").T.reshape(o, hw, hw)
    want = conv2d(decompress(Model([layer]))[0], img)
    if not np.array_equal(got, want):
        raise AssertionError(f"{name}: the RTL's convolution differs from golden.twins.conv.conv2d")
    return {"name": name, "kind": "conv", "shape": [o, c * k * k], "scale": scale,
            "conv": {"out_channels": o, "in_channels": c, "kernel": k, "input": size,
                     "patches": int(patches.shape[0])},
            "block": list(block), "weight_density": wd,
            "neuron_density": round(float((patches != 0).mean()), 3), **row}


def _measure(model, x, tn, tm, sim, runners, workdir, what, table=None, per=None):
    """RTL (sparse and dense), ideal and model cycles of ``model`` on vectors ``x``;
    energy per inference of ``per`` vectors (default all of them) under the
    energy ``table``."""
    from golden.contract.config import small_config
    from golden.energy import energy_summary, load_table
    from golden.perf import perfmodel
    from golden.perf.events import counter_mismatches
    from tb.run import run_model
    table = table or load_table()
    per = per or int(x.shape[0])
    energy = {}
    n_in = x.shape[1]
    # The test configuration, grown where a layer needs it:
    base = small_config(tn, tm)
    windows = -(-n_in // base.window)
    # NBin/NIBin hold the layer's input (the compiler does not tile inputs) and are
    # at least the thesis' 8 KB, an SB half one group's raw 16-bit weights (dense
    # mode), and NBout is the thesis' 8 KB (a batch's inputs and output blocks side
    # by side: synapse reuse loads the weights once per pass of vectors).
    dense_words = windows * base.window // (4 * tm)   # raw 16-bit slots, whole windows
    nbin = max(base.nbin_bytes, 2 * windows * 2 * base.window, 8 * 1024)
    cfg = small_config(tn, tm, nbin_bytes=nbin, nibin_bytes=nbin // 16,
                       sb_bytes=max(base.sb_bytes, 2 * dense_words * 8 * tm),
                       nbout_bytes=max(base.nbout_bytes, 8 * 1024))
    res, model_cycles, ideal, busy_share, timeline = {}, {}, {}, {}, []
    key = (cfg, sim)
    workdir = Path(workdir) / f"{tn}x{tm}-nbin{cfg.nbin_bytes}"
    for dense in (False, True):
        mode = "dense" if dense else "sparse"
        # (dense under the sparse run's tiling: the same batches, reuse and blocks)
        r = run_model(model, x, cfg, dense=dense, sim=sim, workdir=workdir,
                      runner=runners.get(key),
                      memory={"latency": 4, "interval": 1, "p_stall": 0.0},
                      like=res.get("sparse"))
        runners[key] = r["runner"]
        if not r["bit_exact"]:
            raise AssertionError(f"{what} ({mode}): RTL differs from golden: {r['mismatch']}")
        res[mode] = r
        predicted, busy = 0, {u: 0 for u in perfmodel.UNITS}
        programs = r["compiled"]          # the programs the RTL ran
        energy[mode] = energy_summary(programs, table, per=per)
        if not dense:    # the memory side of the roofline: everything moved once
            minimum = sum(la["reuse"]["minimum_words"] for p in programs for la in p.layers)
            reuse = [la["reuse"]["strategy"] for la in programs[0].layers]
        bad = counter_mismatches(energy[mode]["events"], r)
        if bad:
            raise AssertionError(f"{what} ({mode}): the event counts differ from the RTL's "
                                 f"counters: {'; '.join(bad)}")
        steps = [perfmodel.work(program) for program in programs]
        if not dense:
            overheads = _overheads(programs, steps)
        for program, st in zip(programs, steps):
            p = perfmodel.predict(program, {"latency": 4}, steps=st)
            predicted += p["cycles"]
            for u, b in unit_busy(p["timeline"]).items():
                busy[u] += b
            if not dense:
                timeline = p["timeline"]
        model_cycles[mode] = predicted
        busy_share[mode] = {u: round(b / max(predicted, 1), 3) for u, b in busy.items()}
        ideal[mode] = r["ideal_cycles"]
    sp, de = res["sparse"], res["dense"]
    # The roofline: the compute ideal or the words that must move (one a cycle).
    roofline = max(ideal["sparse"], minimum)
    row = {
        "tn": tn, "tm": tm, "vectors": int(x.shape[0]), "batch": int(x.shape[0]),
        "outputs": sp["outputs"], "roofline_cycles": roofline, "minimum_words": minimum,
        "roofline_ratio": round(sp["cycles"] / roofline, 3), "reuse": reuse,
        "rtl_cycles": sp["cycles"], "rtl_compute_cycles": sp["compute_cycles"],
        "ideal_cycles": ideal["sparse"], "dense_cycles": de["cycles"],
        "dense_compute_cycles": de["compute_cycles"], "dense_ideal_cycles": ideal["dense"],
        "ideal_speedup": round(ideal["dense"] / max(ideal["sparse"], 1), 3),
        "speedup": round(de["cycles"] / sp["cycles"], 3),
        "compute_speedup": round(de["compute_cycles"] / sp["compute_cycles"], 3),
        "model_cycles": model_cycles["sparse"], "model_dense_cycles": model_cycles["dense"],
        "model_error": round((model_cycles["sparse"] - sp["cycles"]) / sp["cycles"], 5),
        "model_dense_error": round((model_cycles["dense"] - de["cycles"]) / de["cycles"], 5),
        "sim_cycles_per_second": sp["sim_cycles_per_second"],
        # Where the cycles go (the model's timeline, which equals the RTL's):
        # the share of the run each unit is busy, sparse and dense.
        "busy": busy_share["sparse"], "dense_busy": busy_share["dense"],
        # What the units spend beyond the work itself, per kind of instruction
        # (sparse; busy cycles, some hidden behind other units).
        "overheads": overheads,
        "timeline": timeline,
        # Energy per inference (golden.energy): the events' counts checked
        # against the RTL's counters above.
        "energy_pj_sparse": energy["sparse"]["total_pj"],
        "energy_pj_dense": energy["dense"]["total_pj"],
        "energy_offchip_share": energy["sparse"]["offchip_share"],
        "energy_onchip_buffer_share": energy["sparse"]["onchip_buffer_share"],
        "energy_dense_neurons_pj": energy["sparse"]["dense_neurons_pj"],
        "energy": {mode: {k: v for k, v in e.items() if k != "events"}
                   for mode, e in energy.items()},
        "events": {mode: e["events"] for mode, e in energy.items()},
    }
    return row, cfg


def unit_busy(timeline):
    """Per unit the cycles it is busy in a :func:`golden.perf.perfmodel.predict`
    ``timeline``: the union of its instructions' intervals (from the cycle after
    the issue to the end; a COMPUTE overlaps the one before it, so the sum of
    the intervals would count those cycles twice)."""
    from golden.perf import perfmodel
    out = {}
    for u in perfmodel.UNITS:
        spans = sorted((e["issue"] + 1, e["end"]) for e in timeline if e["unit"] == u)
        total, reach = 0, 0
        for a, b in spans:
            total += max(0, b - max(a, reach))
            reach = max(reach, b)
        out[u] = total
    return out


def _overheads(programs, steps):
    """Busy cycles the units spend beyond the work itself, summed over ``programs``
    (``steps``: their :func:`golden.perf.perfmodel.work`; the model's Timing): per
    COMPUTE its pipeline fill, the windows' cycles over ``Σ ceil(pairs / Tm)`` and
    its groups' waits for room in the configuration FIFOs; per LOAD its fixed
    cycles (request pipeline, memory latency, a sparse NBin row's length lookup;
    a lookup table's words are written a word a cycle); per STORE its cycles
    beyond a cycle per word written."""
    from golden.perf import perfmodel
    t = perfmodel.TIMING
    out = {"computes": 0, "compute_fill_cycles": 0, "compute_window_cycles_over_ideal": 0,
           "compute_config_wait_cycles": 0, "loads": 0, "load_fixed_cycles": 0,
           "stores": 0, "store_cycles_over_words": 0}
    for program, work in zip(programs, steps):
        cfg = program.cfg
        for s in work:
            if s.op == Op.COMPUTE:
                out["computes"] += 1
                fill = t.fill(cfg.tn, cfg.tm, cfg.window, cfg.compact) + \
                    t.skip_fill * (s.fields["skip"] and not s.fields["dense"])
                out["compute_fill_cycles"] += fill
                out["compute_window_cycles_over_ideal"] += s.extra["window_cycles"] - s.ideal
                # (groups waiting for room in the tile/bias FIFOs)
                out["compute_config_wait_cycles"] += (perfmodel.duration(s, cfg) - fill
                                                      - s.extra["window_cycles"])
            elif s.op == Op.LOAD:
                out["loads"] += 1
                out["load_fixed_cycles"] += perfmodel.duration(s, cfg) - s.words
            elif s.op == Op.STORE:
                out["stores"] += 1
                out["store_cycles_over_words"] += perfmodel.duration(s, cfg) - s.words
    return {k: int(round(v)) for k, v in out.items()}


def width_energy(model, x, cfg, table, per=None):
    """Energy per inference (sparse) with the weights stored in 4-, 8- and 16-bit
    slots, the same values (:func:`golden.energy.with_width`; model only)."""
    from golden.energy import model_energy, with_width
    from tb.run import batches
    out = {}
    for bits in (4, 8, 16):
        try:
            m = with_width(model, bits)
        except ValueError:
            continue
        out[str(bits)] = model_energy(m, x, cfg, table=table, parts=batches(m, x, cfg, False),
                                      per=per)["total_pj"]
    return out


def _table_5_2_setup(name, seed):
    """``(model, x, cfg)`` of a table 5.2 layer at full size: one input vector, and
    Tn = Tm = 16 with buffers that hold every weight of the layer."""
    from golden.contract.config import AccelConfig
    from golden.data.synthetic import random_inputs, random_sparse_fc
    n_in, n_out, wd, nd, block = LAYERS[name]
    rng = np.random.default_rng(seed)
    model = random_sparse_fc(rng, n_in, n_out, wd, 4, block=block, name=name)
    x = random_inputs(rng, n_in, vectors=1, density=nd)
    # Every weight of the layer on chip (the thesis' assumption for table 5.2):
    # buffers sized to the layer (rows of the configuration's shapes, two halves).
    windows = -(-n_in // 256)                      # NSM windows of 16 * Tm inputs
    groups = ((n_out + 15) // 16 + 15) // 16 * 16     # output groups, whole Encoder windows
    sb_words = -(-int(model.layers[0].count) // (16 * 256)) + groups   # 4-bit weights per PE
    cfg = AccelConfig(tn=16, tm=16, nbin_bytes=2 * 512 * windows, nibin_bytes=2 * 32 * windows,
                      sib_bytes=2 * 32 * (windows + -(-windows // 256)) * groups,
                      sb_bytes=2 * 128 * sb_words,
                      bias_bytes=2 * 64 * groups, nbout_bytes=2 * 32 * groups,
                      ib_bytes=64 * 1024)
    return model, x, cfg


def _table_5_2_row(name, seed):
    from golden.compiler import compile_model
    from golden.perf import perfmodel
    n_in, n_out, wd, nd, block = LAYERS[name]
    model, x, cfg = _table_5_2_setup(name, seed)
    program = compile_model(model, cfg, x)
    steps = perfmodel.work(program)
    p = perfmodel.predict(program, steps=steps)
    computes = [s for s in steps if s.op == Op.COMPUTE]
    compute = sum(perfmodel.duration(s, cfg) for s in computes)
    thesis_us, eie_us = THESIS_TABLE_5_2[name]
    return {"layer": name, "cycles": int(round(compute)),
            "thesis_cycles": int(round(thesis_us * 1000)),
            "eie_cycles": int(round(eie_us * 1000)), "ideal_cycles": sum(s.ideal for s in computes),
            "total_cycles_with_loads": p["cycles"], "computes": len(computes),
            "source": "model (compute unit, all weights on chip)",
            "shape": [n_out, n_in], "weight_density": wd, "neuron_density": nd}


def _full_size_row(name, seed, sim, workdir, progress=print):
    """A table 5.2 layer at full size on the RTL (Tn = Tm = 16, every weight on chip
    after its LOADs): the compute unit's cycles against the model's and the thesis',
    and the tools' figures (Verilog generation, lines, simulator build)."""
    from golden.perf import perfmodel
    from tb.run import run_model
    model, x, cfg = _table_5_2_setup(name, seed)
    t52 = _table_5_2_row(name, seed)
    workdir = Path(workdir)
    progress(f"        generating the Tn = Tm = 16 Verilog and building it on {sim} "
             "(about half an hour the first time on two cores; cached after) ...")
    r = run_model(model, x, cfg, sim=sim, workdir=workdir,
                  memory={"latency": 4, "interval": 1, "p_stall": 0.0})
    if not r["bit_exact"]:
        raise AssertionError(f"{name} at full size: RTL differs from golden: {r['mismatch']}")
    (program,) = r["compiled"]
    p = perfmodel.predict(program, {"latency": 4})
    with open(workdir / "top.v") as f:
        lines = sum(1 for _ in f)
    return {"layer": name, "tn": 16, "tm": 16, "shape": t52["shape"],
            "weight_density": t52["weight_density"], "neuron_density": t52["neuron_density"],
            "rtl_compute_cycles": r["compute_cycles"], "rtl_cycles": r["cycles"],
            "model_compute_cycles": p["compute_cycles"], "model_cycles": p["cycles"],
            "model_error": round((p["compute_cycles"] - r["compute_cycles"])
                                 / max(r["compute_cycles"], 1), 5),
            "ideal_cycles": r["ideal_cycles"], "thesis_cycles": t52["thesis_cycles"],
            "eie_cycles": t52["eie_cycles"], "bit_exact": True, "sim": sim,
            "verilog_generation_seconds": r["generate_seconds"], "verilog_lines": lines,
            # the simulator's build and start-up: the whole run less its clocked loop
            "sim_build_seconds": round(r["sim_seconds"] - r["loop_seconds"], 1),
            "sim_loop_seconds": r["loop_seconds"],
            "sim_cycles_per_second": r["sim_cycles_per_second"]}


def _generation_time():
    from amaranth.back import verilog

    from golden.contract.config import THESIS
    from hdl.top import Accelerator
    t0 = time.perf_counter()
    text = verilog.convert(Accelerator(THESIS), name="top")
    return round(time.perf_counter() - t0, 1), len(text.splitlines())


def _plots(report, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    rows = report["layers"]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 4))
        x = np.arange(len(rows))
        for k, (key, label) in enumerate((("ideal_cycles", "ideal Σceil(pairs/Tm)"),
                                          ("rtl_compute_cycles", "RTL compute"),
                                          ("rtl_cycles", "RTL total"),
                                          ("model_cycles", "model total"),
                                          ("dense_cycles", "RTL dense total"))):
            ax.bar(x + (k - 2) * 0.16, [r[key] for r in rows], 0.16, label=label)
        ax.set_xticks(x, [r["name"] for r in rows], rotation=20)
        ax.set_yscale("log")
        ax.set_ylabel("cycles")
        ax.set_title(f"Benchmark layers (scaled, Tn = Tm = {rows[0]['tn']})")
        ax.legend(fontsize=7)
        fig.tight_layout()
        atomic_savefig(fig, out / "layers.png", dpi=120)
        plt.close(fig)
        files.append("layers.png")
    if rows and rows[0]["timeline"]:
        r = rows[0]
        fig, ax = plt.subplots(figsize=(9, 2.6))
        colors = {"load": "tab:blue", "compute": "tab:orange", "store": "tab:green"}
        for k, u in enumerate(("load", "compute", "store")):
            spans = [(e["issue"] + 1, e["end"] - e["issue"] - 1) for e in r["timeline"]
                     if e["unit"] == u]
            ax.broken_barh(spans, (k - 0.4, 0.8), color=colors[u])
        ax.set_yticks(range(3), ["load", "compute", "store"])
        ax.set_xlabel("cycle")
        ax.set_title(f"{r['name']} (sparse): unit timeline from the performance model")
        fig.tight_layout()
        atomic_savefig(fig, out / "timeline.png", dpi=120)
        plt.close(fig)
        files.append("timeline.png")
    if rows:
        files.append(energy_plot([(f"{r['name']}\n{mode}", r["energy"][mode]["components"])
                                  for r in rows for mode in ("sparse", "dense")],
                                 out / "energy.png", "Energy per inference by component "
                                 f"({report['energy_table']['name']})"))
    t = report["thesis_table_5_2"]
    if t:
        fig, ax = plt.subplots(figsize=(8, 4))
        x = np.arange(len(t))
        for k, (key, label) in enumerate((("cycles", "sparsegen (model)"),
                                          ("thesis_cycles", "thesis ACC"),
                                          ("eie_cycles", "EIE"))):
            ax.bar(x + (k - 1) * 0.27, [r[key] for r in t], 0.27, label=label)
        ax.set_xticks(x, [r["layer"] for r in t], rotation=20)
        ax.set_ylabel("cycles at 1 GHz")
        ax.set_title("Thesis table 5.2 layers, Tn = Tm = 16, weights on chip")
        ax.legend()
        fig.tight_layout()
        atomic_savefig(fig, out / "table_5_2.png", dpi=120)
        plt.close(fig)
        files.append("table_5_2.png")
    return files


def energy_plot(bars, path, title):
    """A stacked-bar plot of energy (nJ) by :data:`golden.energy.GROUPS`, one bar
    per ``(label, components)``; returns the file's name."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from golden.energy import GROUPS, grouped
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(bars) + 2), 4))
    x = np.arange(len(bars))
    bottom = np.zeros(len(bars))
    for g in GROUPS:
        h = np.array([grouped(c)[g] / 1e3 for _, c in bars])
        ax.bar(x, h, 0.7, bottom=bottom, label=g)
        bottom += h
    ax.set_xticks(x, [label for label, _ in bars], fontsize=7)
    ax.set_ylabel("nJ per inference")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
    return Path(path).name


def energy_markdown(rows, table):
    """The energy section of a report: per row ``(name, sparse summary, dense summary,
    by-width dict)`` the energy per inference, its shares and its components."""
    from golden.energy import GROUPS, grouped
    L = ["## Energy per inference", "",
         f"Event counts from the performance model (off-chip words and SSM steps equal the "
         f"RTL's counters), priced by the table {table['name']!r} ({table['node']}; "
         f"`python -m golden.energy --print-table`).  Off-chip: share of the total; buffers: "
         f"share of the on-chip part.  Encoder effect: the energy with every neuron vector "
         f"moved dense (no Encoder, no bitmaps) over the energy as run.", "",
         "| layer | sparse nJ | dense nJ | dense / sparse | off-chip | buffers (on-chip) | "
         "4 / 8 / 16-bit weights nJ | Encoder effect |",
         "|---|---:|---:|---:|---:|---:|---|---:|"]
    for name, sp, de, widths in rows:
        w = " / ".join(f"{widths[b] / 1e3:.1f}" if b in widths else "-"
                       for b in ("4", "8", "16"))
        L.append(f"| {name} | {sp['total_pj'] / 1e3:.1f} | {de['total_pj'] / 1e3:.1f} | "
                 f"{de['total_pj'] / sp['total_pj']:.2f}x | {100 * sp['offchip_share']:.1f} % | "
                 f"{100 * sp['onchip_buffer_share']:.1f} % | {w} | "
                 f"{sp['dense_neurons_pj'] / sp['total_pj']:.2f}x |")
    L += ["", "By component (nJ per inference; the buffers one by one in the JSON):", "",
          "| layer | mode | " + " | ".join(GROUPS) + " | total |",
          "|---|---|" + "---:|" * (len(GROUPS) + 1)]
    for name, sp, de, _ in rows:
        for mode, e in (("sparse", sp), ("dense", de)):
            g = grouped(e["components"])
            L.append(f"| {name} | {mode} | " + " | ".join(f"{g[k] / 1e3:.1f}" for k in GROUPS)
                     + f" | {e['total_pj'] / 1e3:.1f} |")
    return L


def energy_lines(name, sp, de):
    """One line per mode for a terminal: the energy per inference and its groups' shares."""
    from golden.energy import grouped
    out = []
    for mode, e in (("sparse", sp), ("dense", de)):
        g = grouped(e["components"])
        out.append(f"  {name} energy per inference, {mode}: {e['total_pj'] / 1e3:.1f} nJ (" +
                   ", ".join(f"{k} {100 * v / e['total_pj']:.1f} %" for k, v in g.items()) + ")")
    return out


def _goals(report):
    rows, t = report["layers"], report["thesis_table_5_2"]
    goals = []
    if rows:
        worst = max(r["rtl_compute_cycles"] / max(r["ideal_cycles"], 1) for r in rows)
        value = f"worst {worst:.2f}"
        if t:   # the same ratio at the thesis' size (the model, all weights on chip)
            value += (f"; at full size, Tn = Tm = 16 (model): worst "
                      f"{max(r['cycles'] / max(r['ideal_cycles'], 1) for r in t):.2f}")
        goals.append(("RTL compute cycles / ideal <= 1.03 on every layer", worst <= 1.03, value))
        worst_total = max(r["rtl_cycles"] / max(r["ideal_cycles"], 1) for r in rows)
        goals.append(("RTL total cycles / ideal <= 1.03 on every layer", worst_total <= 1.03,
                      f"worst {worst_total:.2f} (weights streamed from memory)"))
        worst_roof = max(r["roofline_ratio"] for r in rows)
        goals.append(("RTL total cycles / roofline <= 1.10 on every layer", worst_roof <= 1.10,
                      f"worst {worst_roof:.2f} (roofline: max(ideal, words moved once))"))
        ratio = min(r["speedup"] / r["ideal_speedup"] for r in rows)
        goals.append(("achieved speed-up / ideal bound >= 0.98", ratio >= 0.98,
                      f"worst {ratio:.2f}"))
        err = max(max(abs(r["model_error"]), abs(r["model_dense_error"])) for r in rows)
        goals.append(("performance model error <= 2 %", err <= 0.02, f"worst {100 * err:.2f} %"))
    for r in report.get("full_size", []):
        ok = abs(r["model_error"]) <= 0.02 and r["rtl_compute_cycles"] <= r["thesis_cycles"]
        goals.append((f"full size on the RTL ({r['layer']}, Tn = Tm = 16): within 2 % of the "
                      "model and at or below the thesis", ok,
                      f"RTL {r['rtl_compute_cycles']}, model {r['model_compute_cycles']} "
                      f"({100 * r['model_error']:+.2f} %), thesis {r['thesis_cycles']} "
                      f"({r['rtl_compute_cycles'] / r['thesis_cycles']:.2f}x)"))
    if t:
        ok = all(r["cycles"] <= r["thesis_cycles"] for r in t)
        goals.append(("table 5.2 cycles at or below the thesis'", ok,
                      ", ".join(f"{r['layer']} {r['cycles'] / r['thesis_cycles']:.2f}x"
                                for r in t)))
    return [{"goal": g, "met": bool(m), "value": v} for g, m, v in goals]


def _markdown(report):
    L = ["# sparsegen benchmarks", "",
         f"{'Quick set' if report['quick'] else 'Full set'}; simulator {report['sim']}; "
         f"wall time {report['wall_seconds']} s.", "", "## Goals", "",
         "| goal | met | value |", "|---|---|---|"]
    L += [f"| {g['goal']} | {'yes' if g['met'] else '**no**'} | {g['value']} |"
          for g in report["goals"]]
    if report["layers"]:
        L += ["", f"## Benchmark layers on the RTL (scaled down by {report['scale']}, "
              f"Tn = Tm = {report['layers'][0]['tn']}, weights streamed from memory)", "",
              "Densities: " + SOURCE + ". Conv layers: AlexNet's 3x3 layers, channels "
              "divided by the scale, table 3.5's weight densities, blocks (16, 1, 1, 1) "
              "scaled, inputs at an assumed 0.5 density (the column gives the patches' "
              "measured density); each runs as the FC datapath over its patches, one "
              "input vector per output pixel, weights resident.", "",
              "| layer | batch | shape | w / n density | ideal | roofline | RTL compute | "
              "RTL total | total / roofline | dense total | "
              "ideal speed-up | speed-up (total) | speed-up (compute) | model | model error | "
              "busy load / compute / store | reuse |",
              "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in report["layers"]:
            cv = r.get("conv")
            shape = (f"{cv['out_channels']}x{cv['in_channels']}x{cv['kernel']}x{cv['kernel']} "
                     f"on {cv['input']}x{cv['input']} ({cv['patches']} patches)" if cv
                     else f"{r['shape'][0]}x{r['shape'][1]}")
            L.append(f"| {r['name']} | {r['batch']} | {shape} | "
                     f"{r['weight_density']:.3f} / {r['neuron_density']:.3f} | "
                     f"{r['ideal_cycles']} | {r['roofline_cycles']} | "
                     f"{r['rtl_compute_cycles']} | {r['rtl_cycles']} | {r['roofline_ratio']:.2f} | "
                     f"{r['dense_cycles']} | "
                     f"{r['ideal_speedup']:.2f} | {r['speedup']:.2f} | "
                     f"{r['compute_speedup']:.2f} | "
                     f"{r['model_cycles']} | {100 * r['model_error']:+.2f} % | "
                     + " / ".join(f"{100 * r['busy'][u]:.0f} %"
                                  for u in ("load", "compute", "store"))
                     + f" | {', '.join(r['reuse'])} |")
    if report["thesis_table_5_2"]:
        L += ["", "## Thesis table 5.2 (Tn = Tm = 16, all weights on chip, 1 GHz)", "",
              "Our cycles: the compute unit's, from the performance model (validated against "
              "the RTL above); the ideal is Σ ceil(pairs / Tm).", "",
              "| layer | ideal | sparsegen | sparsegen / ideal | thesis ACC | EIE | "
              "sparsegen / thesis |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        for r in report["thesis_table_5_2"]:
            L.append(f"| {r['layer']} | {r['ideal_cycles']} | {r['cycles']} | "
                     f"{r['cycles'] / max(r['ideal_cycles'], 1):.2f} | {r['thesis_cycles']} | "
                     f"{r['eie_cycles']} | {r['cycles'] / r['thesis_cycles']:.2f} |")
    if report["layers"]:
        L += ["", "## Overheads (sparse): busy cycles beyond the work, per kind of instruction",
              "", "Per COMPUTE its pipeline fill, its windows' cycles over Σ ceil(pairs / Tm) and "
              "its groups' waits for the configuration FIFOs; per LOAD its fixed cycles (request "
              "pipeline, latency, NBin length lookup); per STORE its cycles over one a word "
              "written. Units overlap, so these are not additive to the total.", "",
              "| layer | batch | COMPUTEs | fill | windows over ideal | config waits | LOADs | "
              "fixed | STOREs | store over words |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in report["layers"]:
            o = r["overheads"]
            L.append(f"| {r['name']} | {r['batch']} | {o['computes']} | "
                     f"{o['compute_fill_cycles']} | {o['compute_window_cycles_over_ideal']} | "
                     f"{o['compute_config_wait_cycles']} | {o['loads']} | "
                     f"{o['load_fixed_cycles']} | {o['stores']} | "
                     f"{o['store_cycles_over_words']} |")
    if report.get("full_size"):
        L += ["", "## Full size on the RTL (Tn = Tm = 16, every weight on chip, Verilator)", "",
              "Compute cycles: the compute unit's busy cycles (the RTL's counter), after the "
              "LOADs that put the layer's weights on chip (total: with them).", "",
              "| layer | ideal | RTL compute | model | model error | thesis ACC | RTL / thesis | "
              "RTL total | Verilog lines | generation | simulator build | simulated cycles/s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in report["full_size"]:
            L.append(f"| {r['layer']} | {r['ideal_cycles']} | {r['rtl_compute_cycles']} | "
                     f"{r['model_compute_cycles']} | {100 * r['model_error']:+.2f} % | "
                     f"{r['thesis_cycles']} | {r['rtl_compute_cycles'] / r['thesis_cycles']:.2f} | "
                     f"{r['rtl_cycles']} | {r['verilog_lines']} | "
                     f"{r['verilog_generation_seconds']:.0f} s | {r['sim_build_seconds']:.0f} s | "
                     f"{r['sim_cycles_per_second']:.0f} |")
    if report["layers"]:
        L += [""] + energy_markdown(
            [(r["name"], r["energy"]["sparse"], r["energy"]["dense"], r["energy_pj_by_width"])
             for r in report["layers"]], report["energy_table"])
    tools = report["tools"]
    L += ["", "## Tools", "", "| figure | value |", "|---|---|"]
    L += [f"| {k.replace('_', ' ')} | {v} |" for k, v in tools.items()]
    L += ["", "Plots: " + ", ".join(report["plots"]) + ".", ""]
    return "\n".join(L)


def run_bench(out="build/bench", *, quick=False, sim=None, seed=1, progress=print,
              energy_table=None, full=False):
    """Run the benchmarks; write ``report.md``, ``bench.json`` and plots into
    ``out``; return the report dict.  ``energy_table``: a JSON file of energy
    entries replacing the default's (:func:`golden.energy.load_table`).  ``full``:
    also AlexNet fc8 at full size, Tn = Tm = 16, on the RTL (``full_size``)."""
    from golden.energy import load_table
    from tb.runner import SIMULATORS
    table = load_table(energy_table)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sim = sim or ("icarus" if quick else "verilator")
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    t0 = time.perf_counter()
    scale = 16
    names = ["alexnet-fc8"] if quick else list(LAYERS)
    tn = tm = 4
    rows, runners = [], {}
    for i, name in enumerate(names):
        progress(f"[bench] RTL {name} (1/{scale} scale) sparse and dense on {sim} "
                 f"({i + 1}/{len(names)}) ...")
        row = _layer_row(name, scale, tn, tm, sim, runners, seed, out / "rtl", table)
        progress(f"        {row['rtl_cycles']} cycles (ideal {row['ideal_cycles']}, dense "
                 f"{row['dense_cycles']}), model {row['model_cycles']} "
                 f"({100 * row['model_error']:+.2f} %); energy {row['energy_pj_sparse'] / 1e3:.1f}"
                 f" nJ (dense {row['energy_pj_dense'] / 1e3:.1f} nJ)")
        rows.append(row)
    # A batched FC row: synapse reuse loads the weights once per pass, not per vector.
    progress(f"[bench] RTL alexnet-fc8 (1/{scale} scale), a batch of 16, sparse and dense "
             f"on {sim} ...")
    row = _layer_row("alexnet-fc8", scale, tn, tm, sim, runners, seed, out / "rtl", table,
                     batch=16)
    progress(f"        {row['rtl_cycles']} cycles (roofline {row['roofline_cycles']}, ideal "
             f"{row['ideal_cycles']}, dense {row['dense_cycles']}), reuse {row['reuse']}")
    rows.append(row)
    convs = ["alexnet-conv3"] if quick else list(CONV_LAYERS)
    size = 2 if quick else 6
    for i, name in enumerate(convs):
        progress(f"[bench] RTL {name} (1/{scale} channels, {size}x{size} input) sparse and "
                 f"dense on {sim} ({i + 1}/{len(convs)}) ...")
        row = _conv_row(name, scale, size, tn, tm, sim, runners, seed, out / "rtl", table)
        progress(f"        {row['rtl_cycles']} cycles (ideal {row['ideal_cycles']}, dense "
                 f"{row['dense_cycles']}), model {row['model_cycles']} "
                 f"({100 * row['model_error']:+.2f} %); energy {row['energy_pj_sparse'] / 1e3:.1f}"
                 f" nJ (dense {row['energy_pj_dense'] / 1e3:.1f} nJ)")
        rows.append(row)
    t52 = []
    for name in (["alexnet-fc8", "vgg16-fc8"] if quick else list(LAYERS)):
        progress(f"[bench] table 5.2 {name} at full size, Tn = Tm = 16 (model) ...")
        t52.append(_table_5_2_row(name, seed))
        r = t52[-1]
        progress(f"        {r['cycles']} cycles; thesis {r['thesis_cycles']}, "
                 f"EIE {r['eie_cycles']}")
    full_rows = []
    if full:
        # (always Verilator: Icarus would take hours at this size)
        progress("[bench] RTL alexnet-fc8 at full size, Tn = Tm = 16, on verilator ...")
        full_rows.append(_full_size_row("alexnet-fc8", seed, "verilator", out / "rtl-full",
                                        progress))
        r = full_rows[-1]
        progress(f"        compute {r['rtl_compute_cycles']} cycles (model "
                 f"{r['model_compute_cycles']}, thesis {r['thesis_cycles']}); total "
                 f"{r['rtl_cycles']} with the weights' loads; Verilog {r['verilog_lines']} lines "
                 f"in {r['verilog_generation_seconds']:.0f} s, built in "
                 f"{r['sim_build_seconds']:.0f} s")
    tools = {}
    if not quick:
        progress("[bench] Verilog generation at Tn = Tm = 16 ...")
        seconds, lines = _generation_time()
        tools["verilog_generation_seconds_tn16_tm16"] = seconds
        tools["verilog_lines_tn16_tm16"] = lines
    tools["sim_cycles_per_second_" + sim] = round(float(np.mean(
        [r["sim_cycles_per_second"] for r in rows])), 1) if rows else None
    report = {"quick": quick, "sim": sim, "scale": scale, "seed": seed, "layers": rows,
              "thesis_table_5_2": t52, "full_size": full_rows, "tools": tools,
              "energy_table": {"name": table["name"], "node": table["node"],
                               "entries": table["entries"]}}
    report["goals"] = _goals(report)
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    report["plots"] = _plots(report, out)
    atomic_json(out / "bench.json", report, indent=1)
    atomic_write(out / "report.md", _markdown(report))
    return report


def main(argv=None):
    p = ArgumentParser(prog="python -m tb.bench", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="build/bench", help="output directory")
    p.add_argument("--quick", action="store_true",
                   help="a reduced set (AlexNet fc8 and conv3 on a 2x2 map on Icarus, the "
                        "two fc8 rows of table 5.2)")
    p.add_argument("--full", action="store_true",
                   help="also AlexNet fc8 at full size, Tn = Tm = 16, on the RTL (always "
                        "Verilator: about 40 minutes to generate and build the first time on "
                        "two cores, cached after)")
    p.add_argument("--sim", type=simulator, default=None, metavar="{icarus,verilator}",
                   help="simulator (default: verilator, icarus with --quick)")
    add_seed(p, "seed of the random layers and inputs")
    p.add_argument("--energy-table", metavar="FILE",
                   help="JSON energy table replacing entries of the default (45 nm, Horowitz "
                        "ISSCC 2014; see python -m golden.energy --help)")
    args = p.parse_args(argv)
    return run_main("python -m tb.bench", lambda: _run(args), errors=(RuntimeError,))


def _run(args):
    from golden.energy import load_table
    output_dir(args.output, "-o/--output")
    load_table(args.energy_table)          # a bad table fails before any work
    try:
        report = run_bench(args.output, quick=args.quick, sim=args.sim, seed=args.seed,
                           energy_table=args.energy_table, full=args.full)
    except AssertionError as e:
        print(f"python -m tb.bench: {e}", file=sys.stderr)
        return 1
    print()
    for r in report["layers"]:
        for line in energy_lines(r["name"], r["energy"]["sparse"], r["energy"]["dense"]):
            print(line)
    for g in report["goals"]:
        print(f"  {'met    ' if g['met'] else 'NOT MET'}  {g['goal']}: {g['value']}")
    print(f"report: {Path(args.output) / 'report.md'}  data: {Path(args.output) / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
