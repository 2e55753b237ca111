"""Run a compressed model on the generated Verilog, bit-exact against the golden model.

::

    python -m tb.run MODEL --input X.npy [--tn N --tm M] [--dense] [--output Y.npy]
                     [--json R.json] [--waves] [--latency L --interval I --p-stall P]
                     [--input-shape C,H,W [--pool max|avg] [--pool-size K]
                      [--cnn-route on-chip|im2col]]

A model with conv layers (LeNet-style: conv layers, each followed by pooling,
then FC layers) needs ``--input-shape``.  It runs as one program per batch of
images (:func:`golden.compiler.compile_cnn`): the host writes the images, the
accelerator reads each convolution's patches from the maps in memory itself,
and the host reads the outputs — nothing between layers; the JSON gives
``programs`` and ``layer_cycles`` (per layer, from the performance model, which
must equal the RTL: ``model_cycles``).  ``--cnn-route im2col`` runs the old
route instead, each conv layer as FC programs over patches the host gathers
(:mod:`golden.twins.conv`).  Either way the outputs are also checked against
``golden.twins.conv.infer_cnn``.

``X.npy``: int16, one row per input vector, at the first layer's ``f_in``.
Compiles the model (:mod:`golden.compiler`), runs the program on the golden
machine (:mod:`golden.twins.machine`, itself checked against :func:`golden.twins.infer.infer`),
generates the accelerator's Verilog for the configuration, simulates it under
cocotb (``tb/benches/test_top.py``) with a memory model, and compares every layer's
output vectors in memory with the golden machine's.  Input vectors whose
program would not fit the instruction buffer run in batches on one build.  Writes the RTL's outputs
(``--output``, int16, one row per input vector) and a JSON result (``--json``)
with ``bit_exact``, ``cycles``, ``compute_cycles``, ``stall_cycles``,
``ideal_cycles`` (sum of ceil(pairs/Tm) over the program), ``steps``,
``dual_issues``, memory words moved and the simulation speed.  Exits 1 on any
mismatch, naming the layer, the vector, the output index and both values.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tb.runner import build_root, default_sim, simulate

__all__ = ["run_model", "run_cnn", "run_cnn_im2col", "batches", "cnn_batches", "main"]


def _generate(cfg, workdir, reuse=False):
    """The accelerator's Verilog for ``cfg`` in ``workdir``; its port table.  ``reuse``:
    a build of it is running there already (a ``runner`` handed on), so an existing
    ``top.v`` is kept instead of converting again."""
    from amaranth.back import verilog

    from hdl.generate import port_table
    from hdl.top import Accelerator
    top = Accelerator(cfg)
    if not (reuse and (workdir / "top.v").exists()):
        (workdir / "top.v").write_text(verilog.convert(top, name="top", emit_src=False))
    return port_table(top)


def batches(model, x, cfg, dense, pool=1):
    """Split the input vectors into batches whose programs fit the instruction
    buffer (whole pool windows of ``pool`` vectors each); returns a list of row
    slices."""
    from golden.compiler import compile_model
    return _batches(x.shape[0], lambda rows: compile_model(model, cfg, x[rows], dense=dense,
                                                           pool=pool), pool, "input vector")


def _batches(n, compile_rows, unit, what):
    """Row slices of ``n`` rows (whole runs of ``unit``) whose programs
    (``compile_rows(slice)``) fit the instruction buffer."""
    from golden.compiler import CompileError
    try:
        compile_rows(slice(0, n))
        return [slice(0, n)]
    except CompileError as e:
        if "instruction buffer" not in str(e) or n == unit:
            raise
    try:
        one = compile_rows(slice(0, unit))
    except CompileError as e:
        if "instruction buffer" in str(e):
            raise CompileError(f"one {what} alone does not fit: {e}") from None
        raise
    ib, one = one.cfg.ib_depth, len(one.words)
    per = max(1, len(compile_rows(slice(0, 2 * unit)).words) - one)
    size = max(1, (ib - (one - per)) // per) * unit
    # (the reuse strategy may change with the batch: shrink until every batch fits)
    while size > unit:
        try:
            for k in range(0, n, size):
                compile_rows(slice(k, min(n, k + size)))
            break
        except CompileError as e:
            if "instruction buffer" not in str(e):
                raise
            size = max(unit, (size // 2) // unit * unit)
    return [slice(k, min(n, k + size)) for k in range(0, n, size)]


def run_model(model, x, cfg, *, dense=False, sim=None, waves=False, memory=None,
              workdir=None, seed=1, max_cycles=None, quiet=True, runner=None, pool=1,
              like=None):
    """Compile, run on golden and RTL; return the result dict (see the module doc).
    ``memory``: ``{"latency", "interval", "p_stall"}``.  Input vectors that do not
    fit one program (the instruction buffer) run in several batches, one after
    the other on the same build; the counters are summed.  ``runner``: the
    ``result["runner"]`` of an earlier call with the same ``cfg``, ``sim`` and
    ``workdir``, to run on its build instead of building again.  ``pool``: max
    pooling on chip over every ``pool`` consecutive vectors' outputs
    (``compile_model(..., pool=)``).  ``like``: the result of an earlier call on the
    same model and inputs (the sparse run, say): run in its batches, each layer
    under its reuse strategy and output blocks (``result["parts"]``,
    ``result["tilings"]``), so sparse and dense compare under one tiling."""
    from golden.compiler import compile_model
    from golden.twins.infer import infer

    x = np.asarray(x)
    reference = infer(model, x, pool=pool)
    if like is None:
        parts = batches(model, x, cfg, dense, pool)  # a model that cannot compile fails here
    else:
        parts = [slice(a, b) for a, b in like["parts"]]

    def compile_part(b, part):
        tilings = _like_tilings(like, b)
        return compile_model(model, cfg, x[part], dense=dense, pool=pool, tilings=tilings)

    return _run_programs(cfg, parts, compile_part,
                         lambda part: reference[part.start // pool:part.stop // pool],
                         dense=dense, sim=sim, waves=waves, memory=memory, workdir=workdir,
                         seed=seed, max_cycles=max_cycles, quiet=quiet, runner=runner)


def _like_tilings(like, b):
    from golden.compiler.tiling import Tiling
    if like is None:
        return None
    return [Tiling.from_dict(t) for t in like["tilings"][b]]


def _run_programs(cfg, parts, compile_part, expected, *, dense, sim, waves, memory, workdir,
                  seed, max_cycles, quiet, runner, per_layer=False):
    """Compile each batch (``compile_part(b, slice)``), run it on the golden machine
    (which must give ``expected(slice)``) and on the RTL, one build for all;
    compare every activation in memory; sum the counters.  ``per_layer``: also the
    performance model's cycles per layer (``layer_cycles``; it replays each program
    on the golden machine once more, so only where asked)."""
    from golden.contract.layout import MemoryImage, decode_vector
    from golden.perf import perfmodel
    from golden.twins.machine import run_program

    sim = sim or default_sim()
    mem = {"latency": 4, "interval": 1, "p_stall": 0.0, "seed": seed, **(memory or {})}
    if workdir is None:
        tag = f"{cfg.tn}x{cfg.tm}-{'dense' if dense else 'sparse'}-{sim}"
        workdir = build_root() / "run" / tag
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ports = _generate(cfg, workdir, reuse=runner is not None)
    gen_seconds = time.perf_counter() - t0

    totals = {k: 0 for k in ("cycles", "compute_cycles", "stall_cycles", "steps",
                             "dual_issues", "mem_reads", "mem_writes")}
    ideal = golden_steps = instructions = tb_cycles = model_cycles = 0
    sim_seconds = loop_seconds = 0.0
    mismatch, outputs, golden_outs, layers, tilings, compiled = None, [], [], None, [], []
    layer_sums = {}
    for b, part in enumerate(parts):
        program = compile_part(b, part)
        tilings.append([t.as_dict() for t in program.tilings])
        compiled.append(program)
        golden_out, machine = run_program(program)
        if not np.array_equal(golden_out, expected(part)):
            raise AssertionError("internal error: the golden machine differs from the "
                                 "golden inference")
        job = {
            "image": {str(a): str(w) for a, w in program.image.items()},
            "prog_addr": program.prog_addr, "prog_len": len(program.words), "ports": ports,
            "memory": mem, "result": str(workdir / "result.json"),
            "max_cycles": max_cycles or 200 * (machine.stats["steps"] + len(program.image)) + 10000,
        }
        (workdir / "job.json").write_text(json.dumps(job))
        (workdir / ("program.lst" if b == 0 else f"program{b}.lst")).write_text(
            program.listing() + "\n")
        result_path = workdir / "result.json"
        if result_path.exists():
            result_path.unlink()
        t0 = time.perf_counter()
        tests, failures, log, runner = simulate(
            "top", [workdir / "top.v"], workdir, "tb.benches.test_top",
            {"SPARSEGEN_TOP": str(workdir / "job.json")}, seed=seed, sim=sim, waves=waves,
            quiet=quiet, runner=runner)
        sim_seconds += time.perf_counter() - t0
        if not result_path.exists():
            raise RuntimeError(f"the simulation wrote no result ({'; '.join(failures)}); "
                               f"log: {log}")
        res = json.loads(result_path.read_text())
        if not res["done"]:
            raise RuntimeError(f"the accelerator did not finish within {job['max_cycles']} "
                               f"cycles; log: {log}")
        rtl_mem = MemoryImage(cfg.mem_width)
        rtl_mem.update(program.image)
        rtl_mem.update({int(a): int(w) for a, w in res["written"].items()})
        names = [layer["name"] for layer in program.layers]
        for v, row in enumerate(program.activations):
            for li, lay in enumerate(row[1:]):
                got = decode_vector(rtl_mem, lay, cfg)
                want = decode_vector(machine.mem, lay, cfg)
                bad = np.flatnonzero(got != want)
                if bad.size and mismatch is None:
                    k = int(bad[0])
                    mismatch = (f"layer {names[li]!r}, vector {part.start + v}, output {k}: "
                                f"RTL {int(got[k])}, golden {int(want[k])} "
                                f"({bad.size} outputs differ)")
        outputs.append(program.read_outputs(rtl_mem))
        golden_outs.append(golden_out)
        for k in totals:
            totals[k] += res["counters"][k]
        ideal += machine.stats["ideal"]
        golden_steps += machine.stats["steps"]
        instructions += len(program.words)
        tb_cycles += res["tb_cycles"]
        loop_seconds += res["loop_seconds"]
        layers = program.layers
        if per_layer and mem["p_stall"] == 0 and mem["interval"] == 1:
            pred = perfmodel.predict(program, mem)
            model_cycles += pred["cycles"]
            for name, c in perfmodel.layer_cycles(program, pred).items():
                layer_sums[name] = layer_sums.get(name, 0) + c
    return {
        "bit_exact": mismatch is None, "mismatch": mismatch, **totals,
        "ideal_cycles": ideal, "golden_steps": golden_steps, "instructions": instructions,
        "batches": len(parts), "programs": len(parts), "dense": dense,
        "config": cfg.as_dict(), "memory": mem,
        "sim": sim, "sim_seconds": round(sim_seconds, 3),
        "generate_seconds": round(gen_seconds, 3),
        # simulated clock cycles per second of the clocked loop (no build, no start-up)
        "sim_cycles_per_second": round(tb_cycles / max(loop_seconds, 1e-9), 1),
        "loop_seconds": round(loop_seconds, 3),
        # per layer the cycles the performance model attributes to it (the span from
        # the previous layer's end to its own), summed over the programs; only
        # without memory stalls, and only meaningful while model_cycles == cycles
        "model_cycles": model_cycles if layer_sums else None,
        "layer_cycles": layer_sums or None,
        "layers": layers, "workdir": str(workdir),
        "parts": [[p.start, p.stop] for p in parts], "tilings": tilings,
        "compiled": compiled,     # the Programs run, batch by batch (not in --json)
        "outputs": np.concatenate(outputs), "golden_outputs": np.concatenate(golden_outs),
        "runner": runner,
    }


def cnn_batches(model, x, cfg, shape, pool="max", pool_size=2, dense=False):
    """Split the images into batches whose one-program CNNs
    (:func:`golden.compiler.compile_cnn`) fit the instruction buffer."""
    from golden.compiler import compile_cnn
    return _batches(x.shape[0], lambda rows: compile_cnn(model, cfg, x[rows], shape, pool=pool,
                                                         pool_size=pool_size, dense=dense),
                    1, "image")


def run_cnn(model, x, cfg, shape, *, pool="max", pool_size=2, dense=False, like=None,
            **kwargs):
    """A LeNet-style CNN as one program per batch of images
    (:func:`golden.compiler.compile_cnn`: the accelerator reads its patches from
    memory; the host writes the images and reads the outputs, nothing between
    layers), checked against the golden ``infer_cnn``.  Returns :func:`run_model`'s
    keys, ``programs`` the programs run (one per batch that fits the instruction
    buffer) and ``layer_cycles``.  ``like``: an earlier result on the same images
    (the sparse run): its batches and each stage's tiling."""
    from golden.compiler import compile_cnn
    from golden.twins.conv import infer_cnn

    x = np.asarray(x)
    reference = infer_cnn(model, x, shape, pool=pool, pool_size=pool_size)
    if like is None:
        parts = cnn_batches(model, x, cfg, shape, pool, pool_size, dense)
    else:
        parts = [slice(a, b) for a, b in like["parts"]]

    def compile_part(b, part):
        return compile_cnn(model, cfg, x[part], shape, pool=pool, pool_size=pool_size,
                           dense=dense, tilings=_like_tilings(like, b))

    res = _run_programs(cfg, parts, compile_part, lambda part: reference[part], dense=dense,
                        sim=kwargs.pop("sim", None), waves=kwargs.pop("waves", False),
                        memory=kwargs.pop("memory", None), workdir=kwargs.pop("workdir", None),
                        seed=kwargs.pop("seed", 1), max_cycles=kwargs.pop("max_cycles", None),
                        quiet=kwargs.pop("quiet", True), runner=kwargs.pop("runner", None),
                        per_layer=True)
    if kwargs:
        raise TypeError(f"run_cnn got unexpected arguments {sorted(kwargs)}")
    res["route"] = "on-chip"
    return res


def run_cnn_im2col(model, x, cfg, shape, *, pool="max", pool_size=2, dense=False, sim=None,
                   workdir=None, **kwargs):
    """The host-im2col route, for comparison: every conv layer runs as FC programs
    over patches the host gathers (``golden.twins.conv.infer_cnn`` with the
    accelerator as its FC runner), every program on the same build.  Returns
    :func:`run_model`'s keys, counters summed over the programs, and ``bit_exact``
    also against the golden ``infer_cnn``."""
    from golden.twins.conv import infer_cnn
    sim = sim or default_sim()
    if workdir is None:
        workdir = build_root() / "run" / f"{cfg.tn}x{cfg.tm}-{'dense' if dense else 'sparse'}-{sim}"
    sums = {k: 0 for k in ("cycles", "compute_cycles", "stall_cycles", "steps", "dual_issues",
                           "mem_reads", "mem_writes", "ideal_cycles", "instructions", "batches")}
    state = {"mismatch": None, "runner": kwargs.pop("runner", None), "programs": 0}

    def on_rtl(fc_model, vectors, pool=1):
        res = run_model(fc_model, vectors, cfg, dense=dense, sim=sim, workdir=workdir,
                        runner=state["runner"], pool=pool, **kwargs)
        state["runner"] = res["runner"]
        state["programs"] += res["programs"]
        if not res["bit_exact"] and state["mismatch"] is None:
            state["mismatch"] = f"program {state['programs']}: {res['mismatch']}"
        for k in sums:
            sums[k] += res[k]
        state["last"] = res
        return res["outputs"]

    got = infer_cnn(model, x, shape, run_fc=on_rtl, pool=pool, pool_size=pool_size)
    want = infer_cnn(model, x, shape, pool=pool, pool_size=pool_size)
    mismatch = state["mismatch"]
    if mismatch is None and not np.array_equal(got, want):
        v, k = (int(i) for i in np.argwhere(got != want)[0])
        mismatch = f"vector {v}, output {k}: RTL {int(got[v, k])}, golden {int(want[v, k])}"
    last = state["last"]
    return {**sums, "bit_exact": mismatch is None, "mismatch": mismatch, "outputs": got,
            "golden_outputs": want, "programs": state["programs"], "dense": dense,
            "config": cfg.as_dict(), "sim": sim, "memory": last["memory"],
            "sim_cycles_per_second": last["sim_cycles_per_second"], "workdir": str(workdir),
            "runner": state["runner"], "route": "im2col"}


def main(argv=None):
    from golden.cli import (
        ArgumentParser,
        UsageError,
        add_cnn_arguments,
        add_seed,
        add_sim,
        atomic_json,
        atomic_npy,
        cnn_shape,
        output_file,
        run_main,
    )
    from golden.compiler import read_inputs
    from golden.contract.config import add_config_arguments, config_from_args
    from golden.contract.model import load
    p = ArgumentParser(prog="python -m tb.run", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="compressed model file")
    p.add_argument("--input", required=True, help="int16 .npy, one row per input vector")
    add_config_arguments(p)
    p.add_argument("--dense", action="store_true", help="dense mode (the ACC-dense baseline)")
    p.add_argument("--output", help="write the RTL's outputs here (.npy)")
    p.add_argument("--json", help="write the result here")
    p.add_argument("--waves", action="store_true", help="write a waveform (top.fst)")
    add_sim(p)
    p.add_argument("--latency", type=int, default=4, help="memory read latency (cycles)")
    p.add_argument("--interval", type=int, default=1, help="cycles between memory requests")
    p.add_argument("--p-stall", type=float, default=0.0, help="memory stall probability")
    add_seed(p, "seed of the memory model's stalls")
    add_cnn_arguments(p)
    p.add_argument("--cnn-route", choices=["on-chip", "im2col"], default="on-chip",
                   help="on-chip (default): one program per batch of images, the "
                        "accelerator gathers each conv patch from memory; im2col: the "
                        "host gathers the patches between layers, a program per layer "
                        "(the old route, for comparison)")
    args = p.parse_args(argv)
    prog = "python -m tb.run"

    def body():
        for name, value, ok, want in (("--latency", args.latency, args.latency >= 0, ">= 0"),
                                      ("--interval", args.interval, args.interval >= 1, ">= 1"),
                                      ("--p-stall", args.p_stall, 0 <= args.p_stall < 1,
                                       "in [0, 1)")):
            if not ok:
                raise UsageError(f"{name} must be {want}, not {value}")
        cfg = config_from_args(args)
        output_file(args.output, "--output")
        output_file(args.json, "--json")
        model = load(args.model)
        x = read_inputs(args.input)
        memory = {"latency": args.latency, "interval": args.interval, "p_stall": args.p_stall}
        shape = cnn_shape(args, model, x.shape[1])
        if shape:
            run = run_cnn if args.cnn_route == "on-chip" else run_cnn_im2col
            res = run(model, x, cfg, shape, pool=args.pool, pool_size=args.pool_size,
                      dense=args.dense, sim=args.sim, waves=args.waves, memory=memory,
                      seed=args.seed)
        else:
            res = run_model(model, x, cfg, dense=args.dense, sim=args.sim, waves=args.waves,
                            memory=memory, seed=args.seed)
        if args.output:
            atomic_npy(args.output, res["outputs"])
        if args.json:
            atomic_json(args.json, {k: v for k, v in res.items()
                                    if k not in ("outputs", "golden_outputs", "runner",
                                                 "compiled")})
        mode = "dense" if args.dense else "sparse"
        print(f"{mode}: {res['cycles']} cycles, compute {res['compute_cycles']}, ideal "
              f"{res['ideal_cycles']}, stalls {res['stall_cycles']}; {res['programs']} "
              f"program(s); {res['sim_cycles_per_second']:.0f} simulated cycles/s")
        if res.get("layer_cycles"):
            print("  cycles per layer (performance model, "
                  f"{'equal to' if res['model_cycles'] == res['cycles'] else 'NOT equal to'} "
                  f"the RTL's total): " + ", ".join(f"{k} {v}"
                                                    for k, v in res["layer_cycles"].items()))
        if not res["bit_exact"]:
            print(f"MISMATCH: {res['mismatch']}", file=sys.stderr)
            return 1
        print(f"bit-exact: {res['outputs'].shape[0]} vectors x {res['outputs'].shape[1]} "
              f"outputs equal the golden model")
        return 0
    return run_main(prog, body, errors=(RuntimeError,))


if __name__ == "__main__":
    sys.exit(main())
