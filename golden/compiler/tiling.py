"""Compiler stage 1b, **tile**: loop tiling and the data-reuse strategies of the
thesis (§4.3.3), chosen per layer by the off-chip traffic each implies.

A layer is tiled in three dimensions: input segments (``n_in``), output segments
(``n_out``) and passes over the rest (output rows of a conv layer, the input
vectors of an FC batch: ``n_pass``).  Each strategy keeps one kind of data on
chip and moves the others again for every segment it meets:

* **input-reuse**: an input segment stays while every output segment's weights
  (and, across input segments, its partial sums, loaded and stored) pass;
* **output-reuse**: an output segment stays while every input segment and its
  weights pass;
* **synapse-reuse**: a weight segment stays while every pass's inputs (and
  partial sums) pass.

:func:`reuse_traffic` is that rule for any tiling (the thesis' VGG16 conv4_2
example is its test).  For an FC layer of this compiler the input is never split
(a vector stays whole in an NBin half: no partial sums), so :func:`plan_reuse`
counts each strategy's words exactly from the layer's chunks and the vectors'
nonzeros (the golden model's activations) and chooses:

* input-reuse is what the compiler did before there was a choice: per vector the
  input once, then every chunk's weights (lookup tables, SIB rows, SB words,
  biases) — again for every vector;
* synapse-reuse loads each chunk's weights once per *pass* of ``per_pass``
  vectors whose output blocks share an NBout half (``STORE.row``) — every
  other pass visits the chunks backwards, so the chunk at a pass boundary is
  loaded once for both (:func:`pass_chunks`) — and either
  each vector's input once per chunk, a COMPUTE per vector, or — when the
  pass's inputs fit an NBin half side by side (``inputs_resident``) — the
  pass's inputs once, and one COMPUTE per chunk runs every vector of the pass
  (``COMPUTE.vectors``, ``out_stride``: the compute pipeline fills once per
  chunk, not once per vector and chunk); smaller output blocks let more vectors
  share a half but cut the layer into more chunks, and fewer vectors per pass
  may let their inputs stay, so every block size and both kinds of pass are
  tried (the fewest words wins; resident inputs on a tie);
* output-reuse (an output block stays while inputs and weights pass) moves the
  input once per output block and the weights once per vector: never less than
  input-reuse without partial sums, reported for comparison.

A layer whose weights fit one chunk keeps them resident (loaded once: synapse
reuse), and runs its vectors in passes of as many as NBin and NBout halves hold,
one COMPUTE each.  A pooled layer (max pooling on chip, every ``pool``
consecutive vectors one pool window's tiles) passes whole pool windows; a
resident pass's COMPUTE combines each window's tiles itself (``COMPUTE.tiles``).
"""

from dataclasses import dataclass, field

from golden.contract.isa import Op, Slot, offsets

from .place import output_blocks
from .plan import chunks

__all__ = ["STRATEGIES", "VECTORS_MAX", "STRIDE_LIMIT", "Tiling", "reuse_traffic",
           "vector_words", "chunk_words", "table_half", "table_loads", "lut_words",
           "pass_chunks", "pass_words", "plan_reuse",
           "resident_vectors"]

STRATEGIES = ("input", "output", "synapse")

#: The most vectors one COMPUTE runs (its ``vectors`` field), and the NBout rows
#: its ``out_stride`` can step between them.
VECTORS_MAX = (1 << offsets(Op.COMPUTE)["vectors"][1]) - 1
STRIDE_LIMIT = 1 << offsets(Op.COMPUTE)["out_stride"][1]


def resident_vectors(windows, cfg):
    """How many vectors of ``windows`` NBin rows each fit an NBin half side by side
    (and one COMPUTE runs)."""
    return min(cfg.half(cfg.window_rows) // windows, VECTORS_MAX)


def reuse_traffic(seg_in, seg_syn, seg_out, n_in, n_out, n_pass):
    """Off-chip traffic of a layer tiled into ``n_in`` input segments of ``seg_in``,
    ``n_out`` output segments of ``seg_out`` and ``n_pass`` passes, with weight
    segments of ``seg_syn`` (one per input and output segment), under each
    strategy, in the units of the segment sizes.  Partial sums (``n_in > 1``)
    are loaded and stored each time an output segment is met again."""
    ps = 2 if n_in > 1 else 1
    return {"input": n_in * n_pass * (seg_in + n_out * seg_syn + ps * n_out * seg_out),
            "output": n_out * n_pass * (seg_out + n_in * seg_in + n_in * seg_syn),
            "synapse": n_in * n_out * (seg_syn + n_pass * seg_in + ps * n_pass * seg_out)}


def vector_words(values, cfg, dense):
    """Memory words a vector of ``values`` occupies as moved: dense, every window's
    values; sparse, per window its bitmap and its nonzeros (a LOAD of NIBin and
    NBin, or a STORE, moves exactly these)."""
    W, w = cfg.window, cfg.words
    windows = -(-len(values) // W)
    if dense:
        return windows * w["nbin"]
    lanes = w["values_per_word"]
    return sum(w["bitmap"] + -(-int((values[k * W:(k + 1) * W] != 0).sum()) // lanes)
               for k in range(windows))


def chunk_words(plan, cfg, g0, g1, dense=False):
    """``(words, tables)`` of the chunk of groups ``[g0, g1)``: the SIB (not in dense
    mode), SB and bias words its LOADs move, and per PE ``(region, words)`` of its
    lookup table (None for raw weights)."""
    w = cfg.words
    words = ((0 if dense else sum(plan.sib_rows[g0:g1]) * w["bitmap"])
             + sum(plan.sb_words[g0:g1]) * cfg.tn * w["sb"] + (g1 - g0) * w["bias"])
    tables = None
    if plan.slot != Slot.W16:
        tables = []
        for j in range(cfg.tn):
            region = int(plan.region_of_row[min(g0 * cfg.tn + j, plan.n_out - 1)])
            tables.append((region, -(-plan.books[region].size // w["values_per_word"])))
    return words, tables


def table_half(held, regions, last, tables=2):
    """``(half, pes)``: the half of each PE's two lookup tables a chunk's COMPUTE
    decodes with (``lut_half``) and the PEs whose table in it is loaded first.
    ``held[h][j]``: what PE ``j``'s table ``h`` holds; ``regions[j]``: what the chunk
    needs; ``last``: the half the COMPUTE before decoded with.  The half needing
    the fewest loads; on a tie the other one than ``last``, so its loads run
    beside the COMPUTE before (the emitter's rule and the traffic's).  With one
    table per PE (``tables``, the configuration's ``lut_tables``): half 0."""
    need = [[j for j, r in enumerate(regions) if held[h][j] != r] for h in range(tables)]
    if tables == 1:
        return 0, need[0]
    half = 1 - last if len(need[1 - last]) <= len(need[last]) else last
    return half, need[half]


def table_loads(held, regions, last, tables=2):
    """``(half, loads)``: :func:`table_half`'s half, and the table LOADs into it as
    lists of PEs — one LOAD for every PE (``broadcast``) when the chunk's PEs all
    take the same table and some lack it, else a LOAD per PE that lacks its own
    (the emitter's rule and the traffic's)."""
    half, pes = table_half(held, regions, last, tables)
    if pes and len(set(regions)) == 1:
        return half, [list(range(len(regions)))]
    return half, [[j] for j in pes]


def lut_words(sequence, n_tables=2):
    """Words of the lookup-table LOADs along ``sequence``, a layer's chunks' tables
    in the order they are computed, with ``n_tables`` tables per PE: a PE's table
    is loaded where :func:`table_loads` says (the emitter's rule,
    :meth:`golden.compiler.emit.Emitter.load_weights`)."""
    held, last, total = None, 0, 0
    for tables in sequence:
        if not tables:
            continue
        held = held or [[None] * len(tables) for _ in range(2)]
        half, loads = table_loads(held, [r for r, _ in tables], last, n_tables)
        for pes in loads:
            for j in pes:
                held[half][j] = tables[j][0]
            total += tables[pes[0]][1]
        last = half
    return total


def pass_chunks(items, p):
    """The order in which pass ``p`` of a synapse-reuse layer visits its chunks
    ``items`` (in layer order): every other pass backwards, so each pass starts
    with the chunk the pass before ended with, which is still in its SB half and
    is not loaded again (the emitter's order and the traffic's)."""
    return list(items) if p % 2 == 0 else list(items)[::-1]


def pass_words(sizes, passes, n_tables=2):
    """Weight words (SIB rows, SB words, biases and lookup tables) that ``passes``
    synapse-reuse passes over chunks of ``sizes`` (:func:`chunk_words` of each, in
    layer order) move: :func:`pass_chunks`' order, a pass's first chunk loaded
    only by the first pass."""
    seq = []
    for p in range(passes):
        seq += pass_chunks(sizes, p)[1 if p else 0:]
    return sum(w for w, _ in seq) + lut_words([t for _, t in seq], n_tables)


@dataclass
class Tiling:
    """A layer's reuse strategy: its output blocks (``block_windows`` Encoder windows
    each), ``per_pass`` vectors sharing an NBout half, and the words each strategy
    would move (``traffic``), the chosen one's exactly what the program moves.
    ``inputs_resident``: under synapse reuse, a pass's inputs are loaded once, side
    by side in an NBin half, and each chunk's COMPUTE runs the whole pass
    (instead of each input once per chunk and a COMPUTE per vector)."""
    strategy: str
    batch: int
    per_pass: int
    block_windows: int
    traffic: dict = field(default_factory=dict)
    #: the least any schedule moves: every weight word, bitmap, bias and table once,
    #: every input and output once (the memory side of the roofline)
    minimum: int = 0
    inputs_resident: bool = False
    #: what chose the passes: the fewest ``words``, or the performance model's
    #: ``cycles`` (the compiler's tuning: resident inputs or not)
    chosen_by: str = "words"
    #: resident inputs: the LOAD pairs a pass's inputs come in (consecutive runs of
    #: its vectors, the layer before's last STOREs split to match), so that the
    #: first run loads while the layer before still stores the rest; the same
    #: words (:func:`golden.compiler.emit.pass_starts`)
    input_parts: int = 1

    @property
    def words(self):
        return self.traffic[self.strategy]

    @classmethod
    def from_dict(cls, d):
        """The inverse of :meth:`as_dict`."""
        return cls(d["strategy"], d["batch"], d["per_pass"], d["block_windows"],
                   dict(d["traffic_words"]), d.get("minimum_words", 0),
                   bool(d.get("inputs_resident", False)), d.get("chosen_by", "words"),
                   int(d.get("input_parts", 1)))

    def as_dict(self):
        return {"strategy": self.strategy, "batch": self.batch, "per_pass": self.per_pass,
                "block_windows": self.block_windows, "traffic_words": dict(self.traffic),
                "minimum_words": self.minimum, "inputs_resident": self.inputs_resident,
                "chosen_by": self.chosen_by, "input_parts": self.input_parts}


def plan_reuse(plan, cfg, in_words, out_words, dense=False, like=None, pool=1,
               resident=None):
    """The :class:`Tiling` of ``plan`` for a batch whose vectors move ``in_words``
    (input) and ``out_words`` (output) words each (:func:`vector_words`).  ``like``,
    a :class:`Tiling` (of the same layer compiled sparse, say), fixes the strategy
    and the blocks instead of choosing them: sparse and dense under one tiling.
    ``resident`` (True or False) keeps to synapse-reuse passes with (or without)
    resident inputs for a layer of several chunks: the fewest words among them, or
    None if there is none.
    ``pool`` (max pooling on chip): every ``pool`` consecutive vectors are one
    pool window's tiles and share one output (``out_words`` has one entry per
    window): a pass holds whole windows, and its output blocks one per window."""
    t = _plan_reuse(plan, cfg, in_words, out_words, dense, like, pool, resident)
    if like is not None and t is not None and t.strategy == "synapse" and t.inputs_resident:
        t.input_parts = min(like.input_parts, t.per_pass)
    return t


def _plan_reuse(plan, cfg, in_words, out_words, dense, like, pool, resident):
    """The body of :func:`plan_reuse`."""
    G = cfg.groups_per_window
    H = cfg.half(cfg.nbout_rows) // G        # Encoder windows an NBout half holds
    V = len(in_words)
    n_i, n_o = sum(in_words), sum(out_words)
    T = max(1, pool)                         # vectors per output

    def layer_chunks(windows):
        return [c for blk in output_blocks(plan, cfg, windows) for c in chunks(plan, cfg, *blk)]

    full = layer_chunks(H)
    sizes = [chunk_words(plan, cfg, *c, dense) for c in full]
    S = sum(s for s, _ in sizes)
    tables = [t for _, t in sizes]
    n_blocks = len(output_blocks(plan, cfg, H))
    per_vector = S + lut_words(tables, cfg.lut_tables)
    minimum = n_i + per_vector + n_o
    every = V * S + lut_words(tables * V, cfg.lut_tables)     # weights again for every vector
    traffic = {"input": n_i + every + n_o, "output": n_blocks * n_i + every + n_o}
    fit = resident_vectors(plan.windows, cfg) // T * T     # whole pool windows
    if V % T:
        raise ValueError(f"{V} vectors are not whole pool windows of {T}")
    batched = V > 1

    def per_pass(outputs, vectors=V):
        """Vectors per pass: ``outputs`` outputs of ``T`` tiles each, at most ``vectors``."""
        return T * min(vectors // T, outputs)

    if len(full) == 1 and (like is None or like.strategy == "synapse"):
        if resident is not None:
            return None                          # (weights resident: one kind of pass)
        # Resident weights (loaded once); the vectors in passes of what an NBin
        # half and an NBout half hold, a COMPUTE each.
        traffic["synapse"] = minimum
        bw = -(-plan.groups // G)                # the windows of the layer's one block
        if like is not None:
            # (another compile's passes, within what this one's NBin half holds: the
            # sparse program may leave out inputs that dense mode reads)
            if like.inputs_resident and min(like.per_pass, fit) <= 1:
                return Tiling("synapse", V, V, H, traffic, minimum)
            P = min(like.per_pass, fit) if like.inputs_resident else like.per_pass
            return Tiling("synapse", V, P, like.block_windows, traffic, minimum,
                          like.inputs_resident)
        P = per_pass(H // bw, fit) if batched and bw * G < STRIDE_LIMIT else 1
        if P > 1:
            return Tiling("synapse", V, P, bw, traffic, minimum, True)
        return Tiling("synapse", V, V, H, traffic, minimum)
    best = None
    if batched:
        options = []                 # (block windows, vectors per pass, inputs resident)
        for k in range(H, 0, -1):
            P = per_pass(H // k)
            if k * G < STRIDE_LIMIT and min(P, fit) > 1:
                options.append((k, min(P, fit), True))
            if P:
                options.append((k, P, False))
        if like is not None and like.strategy == "synapse":
            k = like.block_windows
            most = min(per_pass(H // k), fit) if like.inputs_resident else per_pass(H // k)
            options = [(k, min(like.per_pass, most), like.inputs_resident)]
        elif resident is not None:
            options = [o for o in options if o[2] == resident]
        for k, P, resident in options:
            passes = -(-V // P)
            cs = layer_chunks(k)
            sz = [chunk_words(plan, cfg, *c, dense) for c in cs]
            words = (pass_words(sz, passes, cfg.lut_tables)
                     + (n_i if resident else len(cs) * n_i) + n_o)
            if best is None or words < best[0]:
                best = (words, k, P, resident)
    if resident is not None and best is None:
        return None
    if best is None:
        traffic["synapse"] = traffic["input"]        # one vector: nothing to share
        return Tiling("input", V, 1, H, traffic, minimum)
    traffic["synapse"] = best[0]
    synapse = (best[0] < traffic["input"] or resident is not None) if like is None \
        else like.strategy == "synapse"
    if synapse:
        return Tiling("synapse", V, best[2], best[1], traffic, minimum, best[3])
    return Tiling("input", V, 1, H, traffic, minimum)
