"""The compiler: a compressed model (:mod:`golden.contract.model`) and input vectors in, a
program (:mod:`golden.contract.isa`), a memory image (:mod:`golden.contract.layout`) and a
listing out.

``python -m golden.compile MODEL --tn N --tm M -o DIR [--input X.npy] [--dense]
[--input-shape C,H,W [--pool max|avg] [--pool-size K]]`` (a model with conv
layers compiles whole into one program: :func:`compile_cnn`, :mod:`.cnn`)

Five stages, each its own module and testable alone: **plan** each layer
(:mod:`.plan`, a :class:`LayerPlan`), **place** the data (:mod:`.place`), **emit**
the instructions and mark ``par`` (:mod:`.emit`), **relocate** the data behind the
program (:func:`relocate`), **schedule**: reorder the instructions where the
performance model predicts fewer cycles (:mod:`.schedule`).  Per FC layer the compiler

* splits the outputs into groups of ``tn`` (one per PE), the groups into *output
  blocks* that fit an NBout half (whole Encoder windows of ``16 * tm / tn`` groups),
  and each block into *chunks* whose weights (SB), shared synapse bitmaps (SIB)
  and biases fit a buffer half and whose PEs keep one quantization region each
  (one LUT load per PE per region change);
* stores each group's shared synapse bitmap (the union of its rows' nonzero
  positions) in the SIB layout of :mod:`golden.contract.sib` (window masks, then only
  the windows holding a synapse, where that skips any: COMPUTE ``skip``) and,
  per PE, the weights at every set position of it, as codebook
  indices packed at the layer's slot width (4/8 bits; explicit zeros use a
  codebook entry 0) or raw int16 (above 8 bits, when a region splits rows, when a
  region has no zero entry for an explicit zero, and in dense mode);
* keeps the whole input vector in one NBin half (no input tiling: a layer whose
  input does not fit is rejected with the buffer named), and reuses a layer's
  weights across input vectors when they fit one chunk (synapse reuse);
* alternates ping-pong halves, so loads of the next chunk/vector overlap the
  current compute and the store of the previous block (each STORE is emitted
  after the next COMPUTE, so in the in-order dispatch that COMPUTE starts while
  the previous one drains and the store runs beside it), and marks every
  instruction that is independent of the one before it (``par``), which the
  controller may issue in the same cycle.

Dense mode (``--dense``) compiles the same model for the ACC-dense baseline: all
weights raw int16 at every position, bitmaps taken as all ones, neurons stored
dense (no Encoder).
"""

import sys
from dataclasses import dataclass, field, replace

import numpy as np

from golden.contract.config import AccelConfig, add_config_arguments, config_from_args, small_config
from golden.contract.isa import decode, listing
from golden.contract.layout import MemoryImage
from golden.contract.model import decompress, load
from golden.twins.pefu import check_pool

from .cnn import cnn_stages, compile_cnn
from .emit import emit_program, mark_par
from .place import place, relocate
from .plan import CompileError, LayerPlan, plan_model
from .schedule import schedule as run_schedule
from .tiling import Tiling, plan_reuse, vector_words

__all__ = ["CompileError", "Program", "LayerPlan", "Tiling", "compile_model", "compile_cnn",
           "cnn_stages", "plan_model",
           "tile", "place",
           "emit_program", "mark_par", "relocate", "scheduled", "read_inputs", "small_config",
           "main"]


@dataclass
class Program:
    cfg: AccelConfig
    dense: bool
    words: list
    comments: list
    image: MemoryImage
    prog_addr: int
    inputs: list            # VectorLayout per input vector (layer 0's input)
    outputs: list           # VectorLayout per input vector (last layer's output)
    layers: list            # per layer: a dict of what the compiler decided
    activations: list = field(default_factory=list)  # [vector][layer] VectorLayout
    tilings: list = field(default_factory=list)      # per layer its tiling.Tiling
    #: a CNN program without FC layers: per image the last map (layout.MapLayout)
    output_maps: list | None = None
    #: what the schedule stage did (:func:`golden.compiler.schedule.schedule`): the
    #: model's cycles as emitted and as scheduled, instructions moved
    schedule: dict | None = None

    def read_outputs(self, mem):
        """The program's outputs in memory ``mem`` (a memory image after the run):
        int16 ``(vectors, N_out)`` — a last map flattened in ``(C, H, W)`` order."""
        from golden.contract.layout import decode_vector
        if self.output_maps:
            return np.stack([m.decode(mem, self.cfg).reshape(-1) for m in self.output_maps])
        return np.stack([decode_vector(mem, lay, self.cfg) for lay in self.outputs])

    def listing(self):
        return listing(self.words, self.comments)

    def summary(self):
        ops = {}
        for w in self.words:
            op, _ = decode(w)
            ops[op.name] = ops.get(op.name, 0) + 1
        return {"instructions": len(self.words), "ops": ops, "memory_words": len(self.image),
                "par": sum(decode(w)[1].get("par", 0) for w in self.words),
                "schedule": {k: v for k, v in (self.schedule or {}).items() if k != "order"},
                "layers": self.layers}


# --- the compiler: the stages in order ------------------------------------------------

def tile(plans, model, cfg, inputs, dense, pool, like=None, resident=None, values=None):
    """Each layer's :class:`~golden.compiler.tiling.Tiling`, from the words its
    vectors move (their nonzeros, from the golden model's activations: ``values``,
    the inputs and every layer's outputs, if already computed); ``like`` (another
    program's tilings; an entry None: choose) fixes each layer's strategy and
    blocks; ``resident`` ``{layer: bool}`` keeps a layer to synapse-reuse passes
    with (or without) resident inputs (its entry None if it has none)."""
    if values is None:
        values = _values(model, inputs, pool, plans)
    resident = resident or {}
    return [plan_reuse(plan, cfg, [vector_words(v, cfg, dense) for v in values[li]],
                       [vector_words(v, cfg, dense) for v in values[li + 1]], dense,
                       pool=pool if li == len(plans) - 1 else 1,
                       like=like[li] if like else None, resident=resident.get(li))
            for li, plan in enumerate(plans)]


def _values(model, inputs, pool, plans):
    """The inputs and, per layer, the outputs its plan computes (the golden model's:
    :func:`~golden.compiler.plan.plan_model` may leave out groups)."""
    from golden.twins.infer import infer
    outs = infer(model, inputs, layers="all", pool=pool)
    return [inputs] + [v if p.kept is None else v[:, p.kept] for v, p in zip(outs, plans)]


def _build(plans, cfg, inputs, dense, pool, tilings, schedule):
    """Place, emit, relocate and schedule a program of ``plans`` under ``tilings``."""
    placement = place(plans, cfg, inputs, dense, pool, tilings)
    words, comments, layers = emit_program(plans, placement, cfg, dense, pool, tilings)
    if len(words) > cfg.ib_depth:
        raise CompileError(f"the program has {len(words)} instructions, the instruction "
                           f"buffer holds {cfg.ib_depth} (parameter ib_bytes)")
    words, image = relocate(words, placement, cfg)
    acts = placement.acts
    program = Program(cfg=cfg, dense=dense, words=words, comments=comments, image=image,
                      prog_addr=0, inputs=[r[0] for r in acts],
                      outputs=[r[-1] for r in acts[::pool]], layers=layers, activations=acts,
                      tilings=tilings)
    return scheduled(program, schedule)


def _cycles(program):
    """The performance model's cycles for ``program`` (the schedule stage's, if it ran)."""
    if program.schedule and program.schedule.get("cycles") is not None:
        return program.schedule["cycles"]
    from golden.perf import perfmodel
    return perfmodel.predict(program)["cycles"]


def _tuned(program, plans, model, cfg, inputs, dense, pool, values):
    """``program`` with, layer by layer, its synapse-reuse passes of the other kind
    (resident inputs or not, the fewest words of that kind) — or, for a layer
    whose weights stay resident, passes of a half or a quarter as many vectors,
    or as the layer before's (:func:`_smaller_passes`) — wherever the performance
    model then gives fewer cycles: words alone do not count a COMPUTE's fill or a
    LOAD's latency, which a COMPUTE per vector and chunk pays again and again, nor
    how passes overlap the layers before and after.  Then, layer by layer,
    resident inputs in more LOADs (``Tiling.input_parts``) while that gives fewer
    cycles."""
    best, best_cycles = program, _cycles(program)
    for li, t in enumerate(program.tilings):
        if t.strategy != "synapse" or t.batch == 1:
            continue
        if program.layers[li]["chunks"] > 1:
            like = list(best.tilings)
            like[li] = None
            tilings = tile(plans, model, cfg, inputs, dense, pool, like=like,
                           resident={li: not t.inputs_resident}, values=values)
            if tilings[li] is not None:
                tilings[li].chosen_by = "cycles"
                try:
                    other = _build(plans, cfg, inputs, dense, pool, tilings, True)
                except CompileError:
                    other = None      # (the other kind does not fit the instruction buffer)
                if other is not None and _cycles(other) < best_cycles:
                    best, best_cycles = other, _cycles(other)
        best, best_cycles = _smaller_passes(best, best_cycles, li, plans, model, cfg,
                                            inputs, dense, pool, values)
    # A layer after the first whose passes' inputs are resident: each pass's inputs
    # in 2, 3, ... LOAD pairs (the layer before's last STOREs split to match), as
    # long as the model gives fewer cycles: the first run loads while the rest is
    # still being stored.
    for li in range(1, len(best.tilings)):
        t = best.tilings[li]
        if t.strategy != "synapse" or not t.inputs_resident:
            continue
        for parts in range(t.input_parts + 1, min(t.per_pass, t.batch) + 1):
            tilings = list(best.tilings)
            tilings[li] = replace(t, input_parts=parts)
            try:
                other = _build(plans, cfg, inputs, dense, pool, tilings, True)
            except CompileError:
                break                 # (more instructions than the buffer holds)
            if _cycles(other) >= best_cycles:
                break
            best, best_cycles = other, _cycles(other)
    return best


def _smaller_passes(best, best_cycles, li, plans, model, cfg, inputs, dense, pool, values):
    """``(program, cycles)``: ``best`` with layer ``li``'s resident-input passes a half
    or a quarter as large, or as large as the layer before's, where the performance
    model gives fewer cycles (:func:`_tuned`) — only where the layer's weights stay
    resident, so that it moves the same words.  (A layer of several chunks would
    load each chunk once more per pass: on the digits demo 52 cycles fewer of
    4,303 for a tenth more off-chip words, the energy's largest part, and its
    dense baseline, compiled under the same tiling, a third more energy.)"""
    t = best.tilings[li]
    if t.strategy != "synapse" or not t.inputs_resident or best.layers[li]["chunks"] > 1:
        return best, best_cycles
    tiles, now = best.layers[li]["pool"], min(t.per_pass, t.batch)
    sizes = {tiles * -(-now // (k * tiles)) for k in (2, 4)}      # (whole pool windows)
    if li > 0 and best.tilings[li - 1].strategy == "synapse":
        sizes.add(best.tilings[li - 1].per_pass)                  # the layer before's passes
    start = best
    for size in sorted(n for n in sizes if 0 < n < now and n % tiles == 0):
        like = list(start.tilings)
        like[li] = replace(t, per_pass=size)
        tilings = list(start.tilings)
        tilings[li] = tile(plans, model, cfg, inputs, dense, pool, like=like, values=values)[li]
        tilings[li].chosen_by = "cycles"
        try:
            other = _build(plans, cfg, inputs, dense, pool, tilings, True)
        except CompileError:
            continue                  # (more instructions than the buffer holds)
        if _cycles(other) < best_cycles:
            best, best_cycles = other, _cycles(other)
    return best, best_cycles


def compile_model(model, cfg, inputs, dense=False, pool=1, tilings=None, schedule=True,
                  tune=True):
    """Compile ``model`` for ``cfg`` with int16 ``inputs`` ``(vectors, N_in)``: plan
    (:mod:`.plan`), place (:mod:`.place`), emit and mark ``par`` (:mod:`.emit`),
    relocate.

    ``pool > 1``: max pooling on chip — the last layer's outputs of every run of
    ``pool`` consecutive input vectors (the patches of one pool window) are
    max-combined in NBout (``COMPUTE pool=1``) and stored once, so the program
    has ``vectors / pool`` outputs.

    ``tilings`` (``program.tilings`` of another compile of the same model and
    inputs, e.g. the sparse one for its dense baseline) fixes every layer's reuse
    strategy and output blocks; by default each layer takes the least traffic,
    and with ``tune`` (default True) a synapse-reuse layer of several chunks then
    takes the other kind of pass (inputs resident or not) where the performance
    model says the program runs in fewer cycles (:func:`_tuned`; the layer's
    ``reuse`` then says ``chosen_by: cycles``).

    ``schedule`` (default True): reorder the instructions where the performance
    model says the controller then runs the program in fewer cycles
    (:mod:`.schedule`); ``False`` keeps the emitted order; another compile's
    ``program.schedule`` (the same model and tilings on other inputs) takes its
    order, so the two programs differ only in their data."""
    if not isinstance(cfg, AccelConfig):
        raise TypeError("cfg must be an AccelConfig")
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 or inputs.dtype != np.int16:
        raise CompileError(f"inputs must be a 2-D int16 array (vectors, N_in), not "
                           f"{inputs.dtype} {inputs.shape}")
    if inputs.shape[0] == 0:
        raise CompileError(f"inputs hold no vector (shape {inputs.shape}): give at least one row")
    try:
        pool = check_pool(pool, inputs.shape[0])
    except ValueError as e:
        raise CompileError(str(e)) from None
    plans = plan_model(model, cfg, dense, inputs.shape[1])
    if tilings is not None and len(tilings) != len(plans):
        raise CompileError(f"tilings has {len(tilings)} entries, the model {len(plans)} layers")
    given = tilings is not None
    values = _values(model, inputs, pool, plans)
    tilings = tile(plans, model, cfg, inputs, dense, pool, like=tilings, values=values)
    if given or not tune:
        return _build(plans, cfg, inputs, dense, pool, tilings, schedule)
    # (the tilings are chosen on scheduled programs; the program then scheduled as asked)
    program = _tuned(_build(plans, cfg, inputs, dense, pool, tilings, True), plans, model,
                     cfg, inputs, dense, pool, values)
    if schedule is True:
        return program
    return _build(plans, cfg, inputs, dense, pool, program.tilings, schedule)


def scheduled(program, how=True):
    """``program`` through the schedule stage (:func:`.schedule.schedule`) as ``how``
    says (True, False, or another compile's ``program.schedule``: see
    :func:`compile_model`), what it did in ``program.schedule``."""
    if how is False or how is None:
        return program
    if how is not True and not (isinstance(how, dict) and "order" in how):
        raise CompileError(f"schedule must be True, False or another compile's "
                           f"program.schedule, not {how!r}")
    try:
        program, report = run_schedule(program, order=None if how is True else how["order"])
    except ValueError as e:
        raise CompileError(f"schedule: {e}") from None
    program.schedule = report
    return program


# --- the command line ---------------------------------------------------------------------

def schedule_line(program):
    """What the schedule stage did, in a line (:func:`scheduled`)."""
    s = program.schedule
    if not s or s.get("cycles") is None:
        return "schedule: the emitted order" + (f" (another compile's: {s['moved']} moved)"
                                                 if s and s.get("moved") else "")
    if not s["moved"]:
        return (f"schedule: the emitted order ({s['cycles']} cycles by the performance "
                f"model; no reordering gave fewer)")
    return (f"schedule: {s['moved']} instructions moved, {s['cycles_emitted']} -> "
            f"{s['cycles']} cycles by the performance model")


def reuse_report(program):
    """A table per layer: the words each reuse strategy moves, the one chosen."""
    lines = [f"reuse per layer ({program.layers[0]['reuse']['batch']} vectors; words of "
             f"{program.cfg.mem_width} bits, off chip):",
             f"  {'layer':10s} {'chunks':>6s} {'input':>10s} {'output':>10s} {'synapse':>10s}"
             f"  chosen (vectors per pass, block windows)"]
    for layer in program.layers:
        r = layer["reuse"]
        t = r["traffic_words"]
        lines.append(f"  {layer['name']:10s} {layer['chunks']:6d} {t['input']:10d} "
                     f"{t['output']:10d} {t['synapse']:10d}  {r['strategy']}-reuse "
                     f"({r['per_pass']}, {r['block_windows']})"
                     + (", inputs resident" if r.get("inputs_resident") else "")
                     + (f" in {r['input_parts']} LOADs a pass"
                        if r.get("input_parts", 1) > 1 else "")
                     + (" (passes chosen by the model's cycles)"
                        if r.get("chosen_by") == "cycles" else ""))
    return "\n".join(lines)


def read_inputs(path, option="--input"):
    """The int16 input vectors of an ``.npy`` file, one per row (a 1-D array is one
    vector), checked: ``UsageError`` naming ``option`` and the file otherwise."""
    from golden.cli import UsageError
    try:
        x = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{option} {path}: no such file") from None
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"{option} {path}: not a readable .npy file ({e})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise UsageError(f"{option} {path}: an .npz archive; give one int16 array as .npy "
                         f"(numpy.save), one row per input vector")
    if x.ndim == 1:
        x = x[None, :]
    if x.dtype != np.int16 or x.ndim != 2:
        raise UsageError(f"{option} {path}: must be a 2-D int16 array (vectors, N_in), not "
                         f"{x.dtype} {x.shape}")
    if x.shape[0] == 0:
        raise UsageError(f"{option} {path}: holds no vector (shape {x.shape})")
    return x


def main(argv=None):
    from golden.cli import (
        ArgumentParser,
        add_cnn_arguments,
        atomic_json,
        atomic_write,
        cnn_shape,
        output_dir,
        run_main,
    )
    p = ArgumentParser(prog="python -m golden.compile",
                       description="Compile a compressed model for the accelerator.")
    p.add_argument("model", help="compressed model file (python -m golden.compress)")
    add_config_arguments(p)
    p.add_argument("--input", help="int16 .npy, one row per input vector (default: one "
                                   "vector of zeros)")
    p.add_argument("--dense", action="store_true", help="compile for dense mode (ACC-dense)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="writes program.lst, program.json, image.npz")
    p.add_argument("--report", action="store_true",
                   help="print per layer the off-chip words of input-, output- and "
                        "synapse-reuse and the strategy chosen, and what the schedule stage "
                        "did (also in program.json)")
    add_cnn_arguments(p, "the whole CNN compiles into one program (compile_cnn)")
    args = p.parse_args(argv)

    def body():
        cfg = config_from_args(args)
        out = output_dir(args.output, "-o/--output")
        model = load(args.model)
        x = read_inputs(args.input) if args.input else None
        shape = cnn_shape(args, model, None if x is None else x.shape[1])
        if x is None:
            n_in = (int(np.prod(shape)) if shape else
                    decompress(model)[0]["weight"].shape[1])
            x = np.zeros((1, n_in), np.int16)
        if shape:
            program = compile_cnn(model, cfg, x, shape, pool=args.pool,
                                  pool_size=args.pool_size, dense=args.dense)
        else:
            program = compile_model(model, cfg, x, dense=args.dense)
        addrs = np.array(sorted(program.image), dtype=np.int64)
        import io
        buf = io.BytesIO()
        np.savez(buf, addr=addrs, words=np.array([str(program.image[a]) for a in addrs]))
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "program.lst", program.listing() + "\n")
        atomic_json(out / "program.json", {"config": cfg.as_dict(), "dense": args.dense,
                                           **program.summary()})
        atomic_write(out / "image.npz", buf.getvalue())
        s = program.summary()
        for a in program.layers:
            if a.get("merged_regions"):
                print(f"{a['name']}: its rows span quantization regions; their "
                      f"{a['merged_regions']} codebooks share one lookup table "
                      f"({a['slot']}-bit indices)")
            elif a.get("raw_reason"):
                print(f"{a['name']}: raw 16-bit weights ({a['raw_reason']})")
        for a, b in zip(program.layers, program.layers[1:]):
            dead, unused = a.get("dead_groups", 0), a.get("unused_groups", 0)
            if dead or unused:
                print(f"{a['name']}: groups of {cfg.tn} outputs left out: {dead} without a "
                      f"weight (their constant outputs folded into {b['name']}'s bias), "
                      f"{unused} that {b['name']} does not use; {a['n_out']} outputs computed")
        if args.report:
            print(reuse_report(program))
            print(schedule_line(program))
        print(f"{len(program.words)} instructions ({s['par']} marked parallel), "
              f"{s['memory_words']} memory words; wrote {out}/program.lst")
        return 0
    return run_main("python -m golden.compile", body)


if __name__ == "__main__":
    sys.exit(main())
