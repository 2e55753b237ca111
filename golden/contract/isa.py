"""The accelerator's instruction set: one 128-bit word per instruction.

Shared by the compiler (:mod:`golden.compiler`), the hardware controller
(:mod:`hdl.control.controller` builds its decoder from :data:`LAYOUTS`) and the listings.
Fields are packed least significant bit first; every instruction starts with

====== ======= =====================================================================
bits   field   meaning
====== ======= =====================================================================
0..3   op      :class:`Op`: NOP 0, LOAD 1, STORE 2, COMPUTE 3, SYNC 4, END 5
4      par     the compiler marks this instruction independent of the previous one:
               the controller may issue both in the same cycle
====== ======= =====================================================================

``LOAD`` (memory → buffer), one functional unit (the load unit):
``target`` (:class:`Target`: NIB, SIB, NBIN, SB, BIAS, LUT), ``half`` (ping-pong half),
``dense`` (NBIN: full rows instead of ``popcount(NIB row)`` values), ``mem_addr`` (word
address), ``row`` (first buffer row in the half), ``count`` (rows; LUT: entries),
``pe`` (LUT: the PE whose table is written; ``half``: which of its two tables;
``broadcast``: every PE's, ``pe`` ignored),
``fence`` (wait until the store unit is idle: the load reads what an earlier STORE
wrote).  ``segments`` (0 counts as 1; :func:`segments`) repeats the row run: segment
``s`` reads ``count`` rows from ``mem_addr + s * seg_step`` into buffer rows
``row + s * count`` on — a 2-D gather, e.g. a convolution patch's kernel rows from
a feature map in memory (:mod:`golden.contract.layout`'s map layout); a LUT load
has one segment.

``STORE`` (NBout half → memory through the Encoder), the store unit: ``half``,
``dense`` (no Encoder: every value, no bitmap), ``mem_addr`` (values: window ``w``
at ``mem_addr + w * window_words``), ``bm_addr`` (bitmaps: one row per window),
``rows`` (NBout rows holding outputs; the rest read as 0), ``windows``, ``row`` (the
first NBout row in the half: several vectors' output blocks share a half under
synapse reuse, :mod:`golden.compiler.tiling`); ``vectors`` (0 counts as 1;
:func:`vectors`) repeats that for vectors whose blocks follow one another in
NBout (vector ``v``'s from row ``row + v * windows * G``, each with ``rows`` rows of
outputs) and lie ``vec_step`` words apart in memory (values and bitmaps alike),
so a pass's outputs go in one STORE (:func:`golden.contract.layout.store_windows`).

``COMPUTE`` (a tile), the compute unit: for each of ``vectors`` input vectors (0
counts as 1; :func:`vectors`) and each of ``groups`` output groups of Tn outputs,
those of the vector's ``windows`` NSM windows of NBin/NIBin half ``nbin_half``
(vector ``v``'s from row ``v * windows``: a pass's inputs side by side,
:mod:`golden.compiler.tiling`) that its SIB mask rows name, against their SIB
rows (from row ``sib_row`` of ``sib_half``: first the groups' mask rows, then
the named windows' rows; the layout of :mod:`golden.contract.sib`) when ``skip``
is set, else every window against SIB rows ``sib_row + g * windows + w`` (dense
mode: every window, no SIB); the group's weights start at SB word ``sb_base`` of
``sb_half`` (the next group's base follows from the SIB popcount; every vector
goes through the same weights); biases from row ``bias_row + g``
of ``bias_half``; outputs to NBout row ``out_row + (v // tiles) * out_stride + g`` of
``out_half``; ``slot`` (:class:`Slot`: 4/8/16-bit weights), ``shift``,
``activation``; ``dense``: the bitmaps are taken as all ones; ``pool``: each output
is max-combined (:func:`golden.twins.pefu.pool_max`) into what its NBout row holds instead
of overwriting it — max pooling across consecutive tiles (patches of one pool window);
``tiles`` (0 counts as 1; :func:`tiles`): every ``tiles`` consecutive vectors are the
tiles of one pool window — they share their NBout rows, and each but the first
of them is max-combined into them (as with ``pool``); ``lut_half``: which of each
PE's two lookup tables decodes the weights (so the next chunk's tables load
beside this COMPUTE).

``SYNC`` waits until every unit is idle; ``END`` does the same, then stops.
"""

from amaranth.hdl import Shape
from amaranth.lib import enum

__all__ = ["WORD_BITS", "Op", "Target", "Slot", "Resource", "UNIT", "LAYOUTS", "offsets",
           "encode", "decode", "listing", "accesses", "conflict", "vectors", "tiles", "pooled",
           "segments", "split_segments"]

#: Bits per instruction word.
WORD_BITS = 128


class Op(enum.Enum, shape=4):
    """The opcodes (``op`` field).  The hardware compares them as ``lib.enum`` members."""
    NOP = 0
    LOAD = 1
    STORE = 2
    COMPUTE = 3
    SYNC = 4
    END = 5


class Target(enum.Enum, shape=3):
    """Where a ``LOAD`` writes (``target`` field)."""
    NIB = 0
    SIB = 1
    NBIN = 2
    SB = 3
    BIAS = 4
    LUT = 5


class Slot(enum.Enum, shape=2):
    """The weights' slot width in the SB words (``COMPUTE.slot``): 4- and 8-bit slots
    hold codebook indices, 16-bit slots raw int16 weights (docs/architecture.md §2)."""
    W4 = 0
    W8 = 1
    W16 = 2

    @property
    def bits(self):
        return {Slot.W4: 4, Slot.W8: 8, Slot.W16: 16}[self]

    @classmethod
    def of(cls, bits):
        """The slot of ``bits``-wide slots (4, 8 or 16)."""
        for slot in cls:
            if slot.bits == bits:
                return slot
        raise ValueError(f"slot must be one of 4, 8, 16 bits, not {bits!r}")


class Resource(enum.IntEnum):
    """What the scoreboard tracks (a bit each): the buffers' ping-pong halves (NBin
    and NIBin together), the lookup tables' halves, and memory (what STOREs write
    and fenced LOADs read)."""
    NBIN0 = 0
    NBIN1 = 1
    SIB0 = 2
    SIB1 = 3
    SB0 = 4
    SB1 = 5
    BIAS0 = 6
    BIAS1 = 7
    NBOUT0 = 8
    NBOUT1 = 9
    LUT0 = 10
    LUT1 = 11
    MEM = 12


#: The functional unit of each opcode that has one.
UNIT = {Op.LOAD: "load", Op.STORE: "store", Op.COMPUTE: "compute"}

_HEAD = [("op", Op), ("par", 1)]

#: Per opcode, the fields after the head, in bit order: (name, shape).
LAYOUTS = {
    Op.NOP: _HEAD,
    Op.SYNC: _HEAD,
    Op.END: _HEAD,
    Op.LOAD: _HEAD + [("target", Target), ("half", 1), ("dense", 1), ("fence", 1),
                      ("mem_addr", 32), ("row", 16), ("count", 16), ("pe", 8),
                      ("segments", 8), ("seg_step", 24), ("broadcast", 1)],
    Op.STORE: _HEAD + [("half", 1), ("dense", 1), ("mem_addr", 24), ("bm_addr", 24),
                       ("rows", 16), ("windows", 12), ("row", 16), ("vectors", 8),
                       ("vec_step", 21)],
    Op.COMPUTE: _HEAD + [("nbin_half", 1), ("sib_half", 1), ("sb_half", 1), ("bias_half", 1),
                         ("out_half", 1), ("dense", 1), ("slot", Slot), ("shift", 5),
                         ("activation", 2), ("windows", 12), ("groups", 12), ("sib_row", 12),
                         ("sb_base", 12), ("bias_row", 12), ("out_row", 16), ("pool", 1),
                         ("skip", 1), ("vectors", 8), ("out_stride", 14), ("tiles", 5),
                         ("lut_half", 1)],
}
_ENUMS = {"op": Op, "target": Target, "slot": Slot}


def offsets(op):
    """``{field: (offset, width)}`` of an opcode's layout."""
    out, pos = {}, 0
    for name, shape in LAYOUTS[Op(op)]:
        width = Shape.cast(shape).width
        out[name] = (pos, width)
        pos += width
    return out


for _op in LAYOUTS:
    assert sum(w for _, w in offsets(_op).values()) <= WORD_BITS, _op

#: Where the head's fields sit (the same in every layout).
OP_FIELD = offsets(Op.NOP)["op"]
PAR_BIT = 1 << offsets(Op.NOP)["par"][0]


def vectors(fields):
    """The input vectors a decoded ``COMPUTE`` runs, or the vectors a ``STORE`` writes
    (its ``vectors`` field; 0 counts as 1)."""
    return max(1, fields.get("vectors", 0))


def tiles(fields):
    """The pool tiles per output of a decoded ``COMPUTE`` (its ``tiles`` field; 0 counts
    as 1)."""
    return max(1, fields.get("tiles", 0))


def pooled(fields, v):
    """Whether a decoded ``COMPUTE``'s vector ``v`` max-combines its outputs into
    NBout (``pool``, or not the first tile of its pool window), and the index of
    its output rows' block (``v // tiles``)."""
    return bool(fields["pool"]) or v % tiles(fields) != 0, v // tiles(fields)


def segments(fields):
    """The segments a decoded ``LOAD`` reads (its ``segments`` field; 0 counts as 1)."""
    return max(1, fields.get("segments", 0))


def split_segments(fields):
    """A decoded ``LOAD`` as one ``LOAD`` per segment (each of one segment): the
    segment rule of the golden machine and the performance model.  A LUT load
    of several segments raises ``ValueError``."""
    n = segments(fields)
    if n > 1 and fields["target"] == Target.LUT:
        raise ValueError(f"a LUT LOAD has one segment, not segments = {n}")
    return [{**fields, "segments": 0, "seg_step": 0,
             "mem_addr": fields["mem_addr"] + s * fields.get("seg_step", 0),
             "row": fields["row"] + s * fields["count"]} for s in range(n)]


def encode(op, **fields):
    """The 128-bit integer of one instruction; unknown fields or values that do not
    fit raise ``ValueError`` naming the field.  ``op``, ``target`` and ``slot`` take
    their enum's members (or names)."""
    try:
        op = Op[op] if isinstance(op, str) else Op(op)
    except (KeyError, ValueError):
        raise ValueError(f"op must be one of {', '.join(o.name for o in Op)}, "
                         f"not {op!r}") from None
    layout = offsets(op)
    word = op.value
    for name, value in fields.items():
        if name not in layout or name == "op":
            raise ValueError(f"{op.name} has no field {name!r}; fields: "
                             f"{', '.join(n for n in layout if n != 'op')}")
        if name in _ENUMS:
            kind = _ENUMS[name]
            if isinstance(value, str):
                value = kind[value]
            if not isinstance(value, kind):
                raise ValueError(f"{op.name} field {name!r} must be a {kind.__name__} member, "
                                 f"not {value!r}")
            value = value.value
        off, width = layout[name]
        value = int(value)
        if not 0 <= value < 1 << width:
            raise ValueError(f"{op.name} field {name!r} = {value} does not fit {width} bits")
        word |= value << off
    return word


def decode(word):
    """``(Op, {field: value})`` of an instruction word; ``target`` and ``slot`` come back
    as enum members.  An opcode or enum value outside its enum raises ``ValueError``."""
    off, width = OP_FIELD
    code = (word >> off) & ((1 << width) - 1)
    try:
        op = Op(code)
    except ValueError:
        raise ValueError(f"unknown opcode {code} in instruction {word:#034x}") from None
    fields = {}
    for name, (off, width) in offsets(op).items():
        if name == "op":
            continue
        value = (word >> off) & ((1 << width) - 1)
        if name in _ENUMS:
            try:
                value = _ENUMS[name](value)
            except ValueError:
                raise ValueError(f"{op.name} field {name!r} = {value} is not a "
                                 f"{_ENUMS[name].__name__} (instruction {word:#034x})") from None
        fields[name] = value
    return op, fields


def listing(words, comments=None):
    """A human-readable listing of a program."""
    lines = []
    for pc, word in enumerate(words):
        op, f = decode(word)
        par = "||" if f.pop("par") else "  "
        args = " ".join(f"{k}={v.name if k in _ENUMS else v}" for k, v in f.items())
        note = f"   ; {comments[pc]}" if comments and comments[pc] else ""
        lines.append(f"{pc:5d} {par} {op.name:7s} {args}{note}")
    return "\n".join(lines)


# --- the scoreboard's rule: what an instruction reads and writes --------------------

def _bit(resource):
    return 1 << resource


def _pick(cond, a, b):
    return a if cond else b


#: The half-split buffer each LOAD target writes (NIBin rides with NBin).
_LOAD_WRITES = {Target.NIB: "NBIN", Target.NBIN: "NBIN", Target.SIB: "SIB", Target.SB: "SB",
                Target.BIAS: "BIAS"}


def accesses(op, f, mux=_pick):
    """``(reads, writes)``: bit masks over :class:`Resource` of what an instruction of
    opcode ``op`` with fields ``f`` reads and writes.

    One rule for the compiler's ``par`` marks, the performance model and the
    hardware scoreboard: ``f`` may hold integers and enum members (``mux`` picks
    like ``a if cond else b``) or Amaranth values of the decoded instruction
    (``mux=Mux``), and the masks are then values too."""
    def half(base, h):
        return mux(h, _bit(Resource[base + "1"]), _bit(Resource[base + "0"]))
    if op == Op.LOAD:
        writes = mux(f["target"] == Target.LUT, half("LUT", f["half"]), 0)
        for target, base in _LOAD_WRITES.items():
            writes = writes | mux(f["target"] == target, half(base, f["half"]), 0)
        return mux(f["fence"], _bit(Resource.MEM), 0), writes
    if op == Op.STORE:
        return half("NBOUT", f["half"]), _bit(Resource.MEM)
    if op == Op.COMPUTE:
        reads = (half("NBIN", f["nbin_half"]) | half("SIB", f["sib_half"]) |
                 half("SB", f["sb_half"]) | half("BIAS", f["bias_half"]) |
                 half("LUT", f["lut_half"]))
        return reads, half("NBOUT", f["out_half"])
    return 0, 0


def conflict(reads, writes, other_reads, other_writes):
    """Whether two instructions' accesses conflict: one writes what the other reads
    or writes (RAW, WAR, WAW).  Integers give a bool; Amaranth values a value."""
    both = (writes & (other_reads | other_writes)) | (reads & other_writes)
    return both != 0
