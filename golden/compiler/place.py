"""Compiler stage 2, **place**: where everything sits in memory (the formats of
:mod:`golden.contract.layout`).

Addresses are relative to the start of the data; :func:`relocate` (stage 4)
moves them behind the program once its length is known.  The activations come
first — per input vector, its input and every layer's output (with pooling,
the vectors of one pool window share the last layer's output) — then, layer by
layer, each chunk's SIB rows (its groups' mask rows, then their fed windows'
rows), SB words (the ``tn`` PEs' words of a row one after the other), bias rows
and, in LUT mode, each PE's codebook.
"""

from dataclasses import dataclass, field

from golden.contract import sib as golden_sib
from golden.contract.isa import WORD_BITS, Op, Slot, decode, encode
from golden.contract.layout import (
    MemoryImage,
    VectorLayout,
    encode_vector,
    pack_values,
    split_words,
)

from .plan import CompileError, chunks

__all__ = ["Chunk", "LayerPlacement", "Placement", "output_blocks", "place", "place_layer",
           "relocate"]


@dataclass
class Chunk:
    """A run of groups whose weights fit one buffer half, and where they are."""
    g0: int
    g1: int
    sib: int            # address of the SIB rows
    sib_rows: int
    sb: int             # address of the SB words
    words: int          # SB words per PE
    bias: int           # address of the bias rows
    luts: list | None   # per PE (region, address, entries); None for raw weights


@dataclass
class LayerPlacement:
    blocks: list        # output blocks: (first group, end group), one NBout half each
    chunks: dict        # block -> [Chunk]

    @property
    def n_chunks(self):
        return sum(len(c) for c in self.chunks.values())


@dataclass
class Placement:
    data: MemoryImage
    acts: list          # [vector][boundary] VectorLayout; boundary 0 is the input
    layers: list = field(default_factory=list)   # LayerPlacement per layer


def output_blocks(plan, cfg, windows=None):
    """The layer's groups in blocks of whole Encoder windows that fit an NBout half
    (``windows`` windows each, default as many as a half holds)."""
    G = cfg.groups_per_window
    per_block = (cfg.half(cfg.nbout_rows) // G if windows is None else windows) * G
    if per_block == 0:
        raise CompileError(f"an NBout half ({cfg.half(cfg.nbout_rows)} rows) holds less than "
                           f"one output window ({G} groups); raise nbout_bytes")
    return [(b, min(b + per_block, plan.groups)) for b in range(0, plan.groups, per_block)]


def _place_chunk(data, plan, cfg, g0, g1):
    W, mw = cfg.window, cfg.mem_width
    segs = golden_sib.segments(plan.windows, W) if plan.skip else 0
    rows = ([row for g in range(g0, g1) for row in plan.sib[g][:segs]] +
            [row for g in range(g0, g1) for row in plan.sib[g][segs:]])
    sib = data.alloc(len(rows) * cfg.words["bitmap"])
    for r, row in enumerate(rows):
        data.write(sib + r * cfg.words["bitmap"],
                   split_words(sum(1 << p for p in range(W) if row[p]), W, mw))
    n_words = sum(plan.sb_words[g0:g1])
    sb = addr = data.alloc(n_words * cfg.tn * cfg.words["sb"])
    for g in range(g0, g1):
        for k in range(plan.sb_words[g]):
            for j in range(cfg.tn):
                data.write(addr, split_words(plan.sb[g][j][k], 64 * cfg.tm, mw))
                addr += cfg.words["sb"]
    bias = data.alloc((g1 - g0) * cfg.words["bias"])
    for r, g in enumerate(range(g0, g1)):
        value = sum((int(b) & 0xFFFFFFFF) << (32 * j) for j, b in enumerate(plan.bias[g]))
        data.write(bias + r * cfg.words["bias"], split_words(value, 32 * cfg.tn, mw))
    luts = None
    if plan.slot != Slot.W16:
        luts = []
        for j in range(cfg.tn):
            region = int(plan.region_of_row[min(g0 * cfg.tn + j, plan.n_out - 1)])
            book = plan.books[region]
            at = data.alloc(-(-book.size // cfg.words["values_per_word"]))
            data.write(at, pack_values(book, mw))
            luts.append((region, at, book.size))
    return Chunk(g0, g1, sib, len(rows), sb, n_words, bias, luts)


def place(plans, cfg, inputs, dense, pool, tilings=None):
    """The :class:`Placement` of a program's data (inputs written, outputs allocated);
    each layer's output blocks as its :class:`~golden.compiler.tiling.Tiling` says."""
    data = MemoryImage(cfg.mem_width)
    acts = []
    for v in range(inputs.shape[0]):
        row = [VectorLayout.allocate(data, cfg, plans[0].n_in, dense)]
        for k, p in enumerate(plans):
            if k == len(plans) - 1 and v % pool:
                row.append(acts[v - v % pool][-1])
            else:
                row.append(VectorLayout.allocate(data, cfg, p.n_out, dense))
        acts.append(row)
        encode_vector(data, row[0], cfg, inputs[v])
    out = Placement(data, acts)
    for li, plan in enumerate(plans):
        out.layers.append(place_layer(data, plan, cfg, tilings[li] if tilings else None,
                                      pool if li == len(plans) - 1 else 1))
    return out


def place_layer(data, plan, cfg, tiling=None, pool=1):
    """A layer's weights in ``data``: its :class:`LayerPlacement`, output blocks as
    its ``tiling`` says (default: as many windows as an NBout half holds)."""
    blocks = output_blocks(plan, cfg, tiling.block_windows if tiling else None)
    if pool > 1 and len(blocks) > 1:
        raise CompileError(f"layer {plan.name!r}: pool = {pool} keeps a pool window's "
                           f"outputs in one NBout half, but its {plan.n_out} outputs need "
                           f"{len(blocks)} (parameter nbout_bytes)")
    return LayerPlacement(blocks, {
        blk: [_place_chunk(data, plan, cfg, g0, g1) for g0, g1 in chunks(plan, cfg, *blk)]
        for blk in blocks})


def write_program(image, words, cfg, at=0):
    """Instruction ``words`` into memory ``image`` from word address ``at`` (where
    the controller fetches them: ``mem_width``-bit parts, least significant first)."""
    for k, word in enumerate(words):
        image.write(at + k * cfg.words["instruction"], split_words(word, WORD_BITS,
                                                                   cfg.mem_width))


def relocate(words, placement, cfg):
    """Stage 4: the program at word 0, the data behind it.  Returns the relocated
    instruction words and the whole memory image; the activations' layouts move
    with the data."""
    offset = len(words) * cfg.words["instruction"]
    image = MemoryImage(cfg.mem_width)
    relocated = []
    for word in words:
        op, f = decode(word)
        if op in (Op.LOAD, Op.STORE):
            f["mem_addr"] += offset
        if op == Op.STORE and not f["dense"]:
            f["bm_addr"] += offset
        relocated.append(encode(op, **f))
    write_program(image, relocated, cfg)
    for addr, value in placement.data.items():
        image[addr + offset] = value
    image.next_free = offset + placement.data.next_free
    for lay in {id(lay): lay for row in placement.acts for lay in row}.values():  # shared once
        lay.bm_addr += 0 if lay.dense else offset
        lay.val_addr += offset
    return relocated, image
