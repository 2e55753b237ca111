"""The compiler: a compressed model (:mod:`golden.contract.model`) and input vectors in, a
program (:mod:`golden.contract.isa`), a memory image (:mod:`golden.contract.layout`) and a listing out.

``python -m golden.compile MODEL --tn N --tm M -o DIR [--input X.npy] [--dense]``

Per FC layer the compiler

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
from dataclasses import dataclass, field

import numpy as np

from golden.contract import sib as golden_sib
from golden.contract.config import AccelConfig, add_config_arguments, config_from_args, small_config  # noqa: F401
from golden.contract.fixed import activation_code, output_shift
from golden.contract.isa import PAR_BIT, UNIT, WORD_BITS, Op, Slot, accesses, conflict, decode, encode, listing
from golden.contract.layout import MemoryImage, VectorLayout, encode_vector, pack_values, split_words
from golden.contract.model import decompress, load
from golden.contract.packing import pack
from golden.twins.pefu import check_pool
from golden.compression.quantize import region_grid

__all__ = ["CompileError", "Program", "compile_model", "read_inputs", "main"]


class CompileError(ValueError):
    """The model cannot be compiled for this configuration; the message names the
    layer and the parameter."""


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

    def listing(self):
        return listing(self.words, self.comments)

    def summary(self):
        ops = {}
        for w in self.words:
            op, _ = decode(w)
            ops[op.name] = ops.get(op.name, 0) + 1
        return {"instructions": len(self.words), "ops": ops, "memory_words": len(self.image),
                "par": sum(decode(w)[1].get("par", 0) for w in self.words),
                "layers": self.layers}


# --- per-layer data ----------------------------------------------------------------

def _layer_plan(model_layer, dec, cfg, dense):
    """Everything a layer needs in memory: per group the SIB rows, the SB words per PE,
    the biases; the slot width and, in LUT mode, the region of each row."""
    name = dec["name"]
    if dec["kind"] != "fc":
        raise CompileError(f"layer {name!r}: kind {dec['kind']!r} is not supported by the "
                           f"compiler yet (fc only)")
    w = dec["weight"].astype(np.int64)
    n_out, n_in = w.shape
    W, tn, tm = cfg.window, cfg.tn, cfg.tm
    windows = -(-n_in // W)
    if windows > cfg.half(cfg.window_rows):
        raise CompileError(
            f"layer {name!r}: {n_in} inputs need {windows} NSM windows of {W}, but an NBin "
            f"half holds {cfg.half(cfg.window_rows)} (parameter nbin_bytes/nibin_bytes)")
    groups = -(-n_out // tn)
    padded = np.zeros((groups * tn, windows * W), dtype=np.int64)
    padded[:n_out, :n_in] = w
    bias = np.zeros(groups * tn, dtype=np.int64)
    bias[:n_out] = dec["bias"]

    # Slot width: the model's, unless a LUT cannot represent a row.
    slot, why_raw = 16, "dense mode" if dense else None
    region_of_row = np.zeros(groups * tn, dtype=np.int64)
    books = None
    if not dense and model_layer.bits <= 8:
        (g_out, g_in), (r_out, r_in) = region_grid(model_layer.shape, model_layer.region)
        if g_in > 1:
            why_raw = f"regions split the rows (region {model_layer.region})"
        elif model_layer.slot not in cfg.widths:
            why_raw = f"{model_layer.slot}-bit slots not in the configured widths {cfg.widths}"
        else:
            slot = model_layer.slot
            books = np.asarray(model_layer.codebooks, dtype=np.int64)
            region_of_row[:n_out] = np.arange(n_out) // r_out
    elif not dense:
        why_raw = f"{model_layer.bits}-bit weights"
    if 16 not in cfg.widths and slot == 16:
        raise CompileError(f"layer {name!r}: needs raw 16-bit weights ({why_raw}) but the "
                           f"configuration's widths are {cfg.widths}")

    sib, sb, sb_words = [], [], []
    for g in range(groups):
        rows = padded[g * tn:(g + 1) * tn]
        sbm = np.ones(windows * W, dtype=bool) if dense else (rows != 0).any(axis=0)
        comp = rows[:, sbm]
        if slot != 16:
            codes = np.zeros_like(comp)
            for j in range(tn):
                r = g * tn + j
                if r >= n_out:
                    continue  # a padding row: its output is never read, any code will do
                book = books[region_of_row[r]]
                lookup = {int(v): k for k, v in reversed(list(enumerate(book)))}
                for c, v in enumerate(comp[j]):
                    if int(v) not in lookup:
                        # an explicit zero without a zero entry: fall back to raw weights
                        return _layer_plan_raw(model_layer, dec, cfg, dense, name,
                                               f"row {r}'s region has no codebook entry 0 for an "
                                               f"explicit zero (recompress with --tn-align {tn})")
                    codes[j, c] = lookup[int(v)]
            comp_store = codes
        else:
            comp_store = comp
        words = [pack(comp_store[j], slot, tm) for j in range(tn)]
        sib.append(sbm.reshape(windows, W))
        sb.append(words)
        sb_words.append(len(words[0]))
    # The SIB layout (golden.contract.sib): with window masks (``skip``) when that feeds
    # fewer windows than there are, else every window's row; dense mode reads none.
    packed = [golden_sib.pack(rows) for rows in sib] if not dense else []
    skip = bool(packed) and sum(len(m) + len(r) for m, r in packed) < groups * windows
    if skip:
        sib = [np.concatenate([m, r]) for m, r in packed]
    elif dense:
        sib = [np.zeros((0, W), dtype=bool)] * groups
    sib_rows = [len(rows) for rows in sib]
    if max(sib_rows, default=0) > cfg.half(cfg.sib_rows):
        raise CompileError(f"layer {name!r}: one group's synapse bitmap needs {max(sib_rows)} "
                           f"SIB rows, a SIB half holds {cfg.half(cfg.sib_rows)} "
                           f"(parameter sib_bytes)")
    if max(sb_words, default=0) > cfg.half(cfg.sb_words):
        raise CompileError(f"layer {name!r}: one group needs {max(sb_words)} SB words, an SB "
                           f"half holds {cfg.half(cfg.sb_words)} (parameter sb_bytes)")
    return {
        "name": name, "n_in": n_in, "n_out": n_out, "windows": windows, "groups": groups,
        "slot": slot, "why_raw": why_raw, "books": books, "region_of_row": region_of_row,
        "sib": sib, "sib_rows": sib_rows, "skip": skip, "sb": sb, "sb_words": sb_words,
        "bias": bias.reshape(groups, tn),
        "shift": output_shift(dec["f_in"], dec["f_w"], dec["f_out"]),
        "activation": dec["activation"], "weight": w, "f_in": dec["f_in"], "f_out": dec["f_out"],
    }


def _layer_plan_raw(model_layer, dec, cfg, dense, name, why):
    plan = _layer_plan(_RawView(model_layer), dec, cfg, dense)
    plan["why_raw"] = why
    return plan


class _RawView:
    """A model layer seen as raw 16-bit weights (the LUT cannot represent it)."""
    def __init__(self, layer):
        self._layer = layer
        self.bits = 16

    def __getattr__(self, item):
        return getattr(self._layer, item)


def _chunks(plan, cfg, g_lo, g_hi):
    """Split groups [g_lo, g_hi) into runs that fit the SB/SIB/bias halves and keep
    every PE in one quantization region."""
    out, start = [], g_lo
    while start < g_hi:
        words = rows = 0
        end = start
        while end < g_hi:
            w = plan["sb_words"][end]
            if (words + w > cfg.half(cfg.sb_words)
                    or rows + plan["sib_rows"][end] > cfg.half(cfg.sib_rows)
                    or end - start + 1 > cfg.half(cfg.bias_rows)):
                break
            if plan["slot"] != 16 and end > start:
                tn = cfg.tn
                same = all(plan["region_of_row"][end * tn + j] == plan["region_of_row"][start * tn + j]
                           for j in range(tn))
                if not same:
                    break
            words += w
            rows += plan["sib_rows"][end]
            end += 1
        if end == start:
            raise CompileError(f"layer {plan['name']!r}: group {start} does not fit the buffers")
        out.append((start, end))
        start = end
    return out


def _mark_par(words):
    """Set ``par`` on every instruction independent of the previous one: another
    unit, and no conflict by the scoreboard's rule (:func:`golden.contract.isa.accesses`)."""
    out = list(words)
    for k in range(1, len(out)):
        op_a, fa = decode(out[k - 1])
        op_b, fb = decode(out[k])
        if op_a not in UNIT or op_b not in UNIT or UNIT[op_a] == UNIT[op_b]:
            continue
        if conflict(*accesses(op_a, fa), *accesses(op_b, fb)):
            continue
        out[k] |= PAR_BIT
    return out


# --- the compiler ----------------------------------------------------------------------

def compile_model(model, cfg, inputs, dense=False, pool=1):
    """Compile ``model`` for ``cfg`` with int16 ``inputs`` ``(vectors, N_in)``.

    ``pool > 1``: max pooling on chip — the last layer's outputs of every run of
    ``pool`` consecutive input vectors (the patches of one pool window) are
    max-combined in NBout (``COMPUTE pool=1``) and stored once, so the program
    has ``vectors / pool`` outputs."""
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
    decs = decompress(model)
    plans = [_layer_plan(ml, d, cfg, dense) for ml, d in zip(model.layers, decs)]
    if inputs.shape[1] != plans[0]["n_in"]:
        raise CompileError(f"inputs have {inputs.shape[1]} values per vector; layer "
                           f"{plans[0]['name']!r} takes {plans[0]['n_in']}")
    for a, b in zip(plans, plans[1:]):
        if a["n_out"] != b["n_in"]:
            raise CompileError(f"layer {b['name']!r}: takes {b['n_in']} inputs, layer "
                               f"{a['name']!r} gives {a['n_out']}")
    image = MemoryImage(cfg.mem_width)
    words, comments = [], []

    def emit(op, comment="", then=None, **f):
        words.append(encode(op, **f))
        comments.append(comment)
        if then is not None:
            then()

    # A STORE is emitted after the next COMPUTE (into the other NBout half), so
    # that COMPUTE, and the loads before it, need not wait behind the store in
    # the in-order dispatch: the compute unit takes it while the previous one
    # drains (hdl.control.compute), and the store runs beside it.
    deferred = []

    def flush():
        while deferred:
            f = deferred.pop(0)
            emit(f.pop("op"), f.pop("comment"), **f)

    n_instr_words = cfg.words["instruction"]
    # The program goes first; its size is not known yet, so data is placed after a
    # provisional region that is fixed up at the end.
    data = MemoryImage(cfg.mem_width)

    # Activations: [vector][boundary] layouts; boundary 0 is the input.  With
    # pooling, the vectors of one pool window share the last layer's output.
    acts = []
    for v in range(inputs.shape[0]):
        row = [VectorLayout.allocate(data, cfg, plans[0]["n_in"], dense)]
        for k, p in enumerate(plans):
            if k == len(plans) - 1 and v % pool:
                row.append(acts[v - v % pool][-1])
            else:
                row.append(VectorLayout.allocate(data, cfg, p["n_out"], dense))
        acts.append(row)
        encode_vector(data, row[0], cfg, inputs[v])

    G = cfg.groups_per_window
    block_groups = (cfg.half(cfg.nbout_rows) // G) * G
    if block_groups == 0:
        raise CompileError(f"an NBout half ({cfg.half(cfg.nbout_rows)} rows) holds less than "
                           f"one output window ({G} groups); raise nbout_bytes")
    halves = {"nbin": 0, "w": 0, "out": 0}
    lut_state = [None] * cfg.tn
    layer_info = []
    for li, plan in enumerate(plans):
        W = cfg.window
        blocks = [(b, min(b + block_groups, plan["groups"]))
                  for b in range(0, plan["groups"], block_groups)]
        chunks = {blk: _chunks(plan, cfg, *blk) for blk in blocks}
        pooled = pool > 1 and li == len(plans) - 1
        if pooled and len(blocks) > 1:
            raise CompileError(f"layer {plan['name']!r}: pool = {pool} keeps a pool window's "
                               f"outputs in one NBout half, but its {plan['n_out']} outputs need "
                               f"{len(blocks)} (parameter nbout_bytes)")
        n_chunks = sum(len(c) for c in chunks.values())
        resident = n_chunks == 1
        # Place the weights once per chunk.
        placed = {}
        for blk in blocks:
            for (g0, g1) in chunks[blk]:
                # golden.contract.sib: the chunk's mask rows, then its fed windows' rows
                segs = golden_sib.segments(plan["windows"], W) if plan["skip"] else 0
                sib_rows = ([row for g in range(g0, g1) for row in plan["sib"][g][:segs]] +
                            [row for g in range(g0, g1) for row in plan["sib"][g][segs:]])
                sib_addr = data.alloc(len(sib_rows) * cfg.words["bitmap"])
                for r, row in enumerate(sib_rows):
                    data.write(sib_addr + r * cfg.words["bitmap"],
                               split_words(sum(1 << p for p in range(W) if row[p]), W,
                                           cfg.mem_width))
                n_words = sum(plan["sb_words"][g0:g1])
                sb_addr = data.alloc(n_words * cfg.tn * cfg.words["sb"])
                addr = sb_addr
                for g in range(g0, g1):
                    for k in range(plan["sb_words"][g]):
                        for j in range(cfg.tn):
                            data.write(addr, split_words(plan["sb"][g][j][k], 64 * cfg.tm,
                                                         cfg.mem_width))
                            addr += cfg.words["sb"]
                bias_addr = data.alloc((g1 - g0) * cfg.words["bias"])
                for r, g in enumerate(range(g0, g1)):
                    value = sum((int(b) & 0xFFFFFFFF) << (32 * j)
                                for j, b in enumerate(plan["bias"][g]))
                    data.write(bias_addr + r * cfg.words["bias"],
                               split_words(value, 32 * cfg.tn, cfg.mem_width))
                luts = None
                if plan["slot"] != 16:
                    luts = []
                    for j in range(cfg.tn):
                        region = int(plan["region_of_row"][min(g0 * cfg.tn + j,
                                                               plan["n_out"] - 1)])
                        book = plan["books"][region]
                        addr_l = data.alloc(-(-book.size // cfg.words["values_per_word"]))
                        data.write(addr_l, pack_values(book, cfg.mem_width))
                        luts.append((region, addr_l, book.size))
                placed[(g0, g1)] = {"sib": sib_addr, "sib_rows": len(sib_rows), "sb": sb_addr,
                                    "bias": bias_addr, "luts": luts, "words": n_words}

        def load_weights(g0, g1, half):
            pl = placed[(g0, g1)]
            if pl["luts"] is not None:
                for j, (region, addr_l, n) in enumerate(pl["luts"]):
                    key = (li, region)
                    if lut_state[j] != key:
                        emit("LOAD", f"{plan['name']}: LUT of PE {j} (region {region})",
                             target="LUT", mem_addr=addr_l, count=n, pe=j)
                        lut_state[j] = key
            if not dense:
                emit("LOAD", f"{plan['name']}: SIB groups {g0}..{g1 - 1}", target="SIB",
                     half=half, mem_addr=pl["sib"], row=0, count=pl["sib_rows"])
            emit("LOAD", f"{plan['name']}: SB groups {g0}..{g1 - 1} ({pl['words']} words)",
                 target="SB", half=half, mem_addr=pl["sb"], row=0, count=pl["words"])
            emit("LOAD", f"{plan['name']}: bias groups {g0}..{g1 - 1}", target="BIAS",
                 half=half, mem_addr=pl["bias"], row=0, count=g1 - g0)

        if resident:
            (blk,) = blocks
            (ch,) = chunks[blk]
            load_weights(*ch, halves["w"])
            resident_half = halves["w"]
            halves["w"] ^= 1
        for v in range(inputs.shape[0]):
            src, dst = acts[v][li], acts[v][li + 1]
            hn = halves["nbin"]
            halves["nbin"] ^= 1
            fence = int(li > 0)
            if not dense:
                emit("LOAD", f"{plan['name']}: input bitmaps, vector {v}", target="NIB",
                     half=hn, mem_addr=src.bm_addr, row=0, count=plan["windows"], fence=fence)
            emit("LOAD", f"{plan['name']}: input neurons, vector {v}", target="NBIN", half=hn,
                 dense=int(dense), mem_addr=src.val_addr, row=0, count=plan["windows"],
                 fence=fence)
            first = not pooled or v % pool == 0      # a pool window's first tile writes
            last = not pooled or v % pool == pool - 1   # its last one is stored
            for blk in blocks:
                if first:
                    ho = halves["out"]
                    halves["out"] ^= 1
                for (g0, g1) in chunks[blk]:
                    if resident:
                        hw = resident_half
                    else:
                        hw = halves["w"]
                        halves["w"] ^= 1
                        load_weights(g0, g1, hw)
                    emit("COMPUTE", f"{plan['name']}: vector {v}, groups {g0}..{g1 - 1}",
                         then=flush,
                         nbin_half=hn, sib_half=hw, sb_half=hw, bias_half=hw, out_half=ho,
                         dense=int(dense), slot=Slot.of(plan["slot"]), shift=plan["shift"],
                         activation=activation_code(plan["activation"]),
                         windows=plan["windows"], groups=g1 - g0, sib_row=0, sb_base=0,
                         bias_row=0, out_row=g0 - blk[0], pool=int(not first),
                         skip=int(plan["skip"]))
                if not last:
                    continue
                w0 = blk[0] // G
                w1 = -(-blk[1] // G)
                rows = min(blk[1], -(-plan["n_out"] // cfg.tn)) - blk[0]
                deferred.append(dict(
                    op="STORE", comment=f"{plan['name']}: vector {v}, output windows "
                                        f"{w0}..{w1 - 1}",
                    half=ho, dense=int(dense), mem_addr=dst.val_addr + w0 * cfg.words["nbin"],
                    bm_addr=0 if dense else dst.bm_addr + w0 * cfg.words["bitmap"],
                    rows=rows, windows=w1 - w0))
        flush()      # the next layer's (fenced) loads read what these stores write
        layer_info.append({"name": plan["name"], "n_in": plan["n_in"], "n_out": plan["n_out"],
                           "windows": plan["windows"], "groups": plan["groups"],
                           "slot": plan["slot"], "raw_reason": plan["why_raw"],
                           "chunks": n_chunks, "weights_resident": resident,
                           "shift": plan["shift"], "activation": plan["activation"],
                           "pool": pool if pooled else 1})
    emit("END", "done")
    words = _mark_par(words)

    # Place the program at 0 and shift the data after it.
    prog_words = len(words) * n_instr_words
    if len(words) > cfg.ib_depth:
        raise CompileError(f"the program has {len(words)} instructions, the instruction "
                           f"buffer holds {cfg.ib_depth} (parameter ib_bytes)")
    offset = prog_words
    image.next_free = offset + data.next_free
    for k, w in enumerate(words):
        image.write(k * n_instr_words, split_words(w, WORD_BITS, cfg.mem_width))
    relocated = []
    for k, w in enumerate(words):
        op, f = decode(w)
        if op in (Op.LOAD, Op.STORE):
            f["mem_addr"] += offset
        if op == Op.STORE and not f["dense"]:
            f["bm_addr"] += offset
        relocated.append(encode(op, **f))
    words = relocated
    for k, w in enumerate(words):
        image.write(k * n_instr_words, split_words(w, WORD_BITS, cfg.mem_width))
    for addr, val in data.items():
        image[addr + offset] = val
    for lay in {id(lay): lay for row in acts for lay in row}.values():   # shared once
        lay.bm_addr += offset if not lay.dense else 0
        lay.val_addr += offset
    return Program(cfg=cfg, dense=dense, words=words, comments=comments, image=image,
                   prog_addr=0, inputs=[r[0] for r in acts],
                   outputs=[r[-1] for r in acts[::pool]],
                   layers=layer_info, activations=acts)


# --- the command line ---------------------------------------------------------------------

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
    from golden.cli import ArgumentParser, atomic_json, atomic_write, output_dir, run_main
    p = ArgumentParser(prog="python -m golden.compile",
                       description="Compile a compressed model for the accelerator.")
    p.add_argument("model", help="compressed model file (python -m golden.compress)")
    add_config_arguments(p)
    p.add_argument("--input", help="int16 .npy, one row per input vector (default: one "
                                   "vector of zeros)")
    p.add_argument("--dense", action="store_true", help="compile for dense mode (ACC-dense)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="writes program.lst, program.json, image.npz")
    args = p.parse_args(argv)

    def body():
        cfg = config_from_args(args)
        out = output_dir(args.output, "-o/--output")
        model = load(args.model)
        n_in = decompress(model)[0]["weight"].shape[1]
        x = read_inputs(args.input) if args.input else np.zeros((1, n_in), np.int16)
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
        print(f"{len(program.words)} instructions ({s['par']} marked parallel), "
              f"{s['memory_words']} memory words; wrote {out}/program.lst")
        return 0
    return run_main("python -m golden.compile", body)


if __name__ == "__main__":
    sys.exit(main())
