"""The accelerator's instruction set: one 128-bit word per instruction.

Shared by the compiler (:mod:`golden.compiler`), the hardware controller
(:mod:`hdl.control` builds its decoder from :data:`LAYOUTS`) and the listings.
Fields are packed least significant bit first; every instruction starts with

====== ======= =====================================================================
bits   field   meaning
====== ======= =====================================================================
0..3   op      NOP 0, LOAD 1, STORE 2, COMPUTE 3, SYNC 4, END 5
4      par     the compiler marks this instruction independent of the previous one:
               the controller may issue both in the same cycle
====== ======= =====================================================================

``LOAD`` (memory → buffer), one functional unit (the load unit):
``target`` NIB 0 / SIB 1 / NBIN 2 / SB 3 / BIAS 4 / LUT 5, ``half`` (ping-pong half),
``dense`` (NBIN: full rows instead of ``popcount(NIB row)`` values), ``mem_addr`` (word
address), ``row`` (first buffer row in the half), ``count`` (rows; LUT: entries),
``pe`` (LUT: the PE whose table is written), ``fence`` (wait until the store
unit is idle: the load reads what an earlier STORE wrote).

``STORE`` (NBout half → memory through the Encoder), the store unit: ``half``,
``dense`` (no Encoder: every value, no bitmap), ``mem_addr`` (values: window ``w``
at ``mem_addr + w * window_words``), ``bm_addr`` (bitmaps: one row per window),
``rows`` (NBout rows holding outputs; the rest read as 0), ``windows``.

``COMPUTE`` (a tile), the compute unit: for each of ``groups`` output groups of
Tn outputs, those of the ``windows`` NSM windows of NBin/NIBin half ``nbin_half``
that its SIB mask rows name, against their SIB rows (from row ``sib_row`` of
``sib_half``: first the groups' mask rows, then the named windows' rows; the
layout of :mod:`golden.sib`) when ``skip`` is set, else every window against SIB
rows ``sib_row + g * windows + w`` (dense mode: every window, no SIB); the group's
weights start
at SB word ``sb_base`` of ``sb_half`` (the next group's base follows from the SIB
popcount); biases from row ``bias_row + g`` of ``bias_half``; outputs to NBout row
``out_row + g`` of ``out_half``; ``slot`` (0/1/2: 4/8/16-bit weights), ``shift``,
``activation``; ``dense``: the bitmaps are taken as all ones; ``pool``: each output
is max-combined (:func:`golden.pefu.pool_max`) into what its NBout row holds instead
of overwriting it — max pooling across consecutive tiles (patches of one pool window).

``SYNC`` waits until every unit is idle; ``END`` does the same, then stops.
"""

__all__ = ["OPS", "TARGETS", "LAYOUTS", "WORD_BITS", "encode", "decode", "listing"]

WORD_BITS = 128

OPS = {"NOP": 0, "LOAD": 1, "STORE": 2, "COMPUTE": 3, "SYNC": 4, "END": 5}
TARGETS = {"NIB": 0, "SIB": 1, "NBIN": 2, "SB": 3, "BIAS": 4, "LUT": 5}

_HEAD = [("op", 4), ("par", 1)]

#: Per opcode, the fields after the head, in bit order: (name, width).
LAYOUTS = {
    "NOP": _HEAD,
    "SYNC": _HEAD,
    "END": _HEAD,
    "LOAD": _HEAD + [("target", 3), ("half", 1), ("dense", 1), ("fence", 1), ("mem_addr", 32),
                     ("row", 16), ("count", 16), ("pe", 8)],
    "STORE": _HEAD + [("half", 1), ("dense", 1), ("mem_addr", 32), ("bm_addr", 32),
                      ("rows", 16), ("windows", 16)],
    "COMPUTE": _HEAD + [("nbin_half", 1), ("sib_half", 1), ("sb_half", 1), ("bias_half", 1),
                        ("out_half", 1), ("dense", 1), ("slot", 2), ("shift", 5),
                        ("activation", 2), ("windows", 16), ("groups", 16), ("sib_row", 16),
                        ("sb_base", 16), ("bias_row", 16), ("out_row", 16), ("pool", 1),
                        ("skip", 1)],
}
for _name, _fields in LAYOUTS.items():
    assert sum(w for _, w in _fields) <= WORD_BITS, _name


def offsets(op):
    """``{field: (offset, width)}`` of an opcode's layout."""
    out, pos = {}, 0
    for name, width in LAYOUTS[op]:
        out[name] = (pos, width)
        pos += width
    return out


def encode(op, **fields):
    """The 128-bit integer of one instruction; unknown fields or values that do not
    fit raise ``ValueError`` naming the field."""
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, not {op!r}")
    fields = dict(fields)
    if op == "LOAD" and isinstance(fields.get("target"), str):
        fields["target"] = TARGETS[fields["target"]]
    layout = offsets(op)
    word = OPS[op]
    for name, value in fields.items():
        if name not in layout or name == "op":
            raise ValueError(f"{op} has no field {name!r}; fields: "
                             f"{', '.join(n for n in layout if n != 'op')}")
        off, width = layout[name]
        value = int(value)
        if not 0 <= value < 1 << width:
            raise ValueError(f"{op} field {name!r} = {value} does not fit {width} bits")
        word |= value << off
    return word


def decode(word):
    """``(op name, {field: value})`` of an instruction word."""
    code = word & 0xF
    names = {v: k for k, v in OPS.items()}
    if code not in names:
        raise ValueError(f"unknown opcode {code} in instruction {word:#034x}")
    op = names[code]
    return op, {name: (word >> off) & ((1 << width) - 1)
                for name, (off, width) in offsets(op).items() if name != "op"}


def listing(words, comments=None):
    """A human-readable listing of a program."""
    tnames = {v: k for k, v in TARGETS.items()}
    lines = []
    for pc, word in enumerate(words):
        op, f = decode(word)
        par = "||" if f.pop("par") else "  "
        if op == "LOAD":
            f["target"] = tnames.get(f["target"], f["target"])
        args = " ".join(f"{k}={v}" for k, v in f.items())
        note = f"   ; {comments[pc]}" if comments and comments[pc] else ""
        lines.append(f"{pc:5d} {par} {op:7s} {args}{note}")
    return "\n".join(lines)
