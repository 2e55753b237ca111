"""Golden model of the weight decoding module (WDM, thesis §4.2.2, docs/architecture.md §3).

Each PE's WDM holds a lookup table (the codebook of the quantization region its
weights come from) and turns slot codes into weights (:func:`lookup`, the one
rule): a 4- or 8-bit code is looked up, a 16-bit code is a raw int16 weight and
passes through.  :func:`decode` applies it to every slot of an SB word of
``64 * tm`` bits (``16 * tm`` 4-bit, ``8 * tm`` 8-bit or ``4 * tm`` 16-bit
slots; the layout is :mod:`golden.contract.packing`).  The hardware decodes
after the SSM has picked a beat's ``tm`` codes out of the word
(:mod:`hdl.datapath.wdm`); picking then decoding equals decoding then picking.
"""

import numpy as np

from golden.contract.packing import slots_per_word, unpack

__all__ = ["LUT_SIZE", "table_depth", "lookup", "decode", "decode_stream"]

#: Entries of the hardware LUT: enough for 8-bit indices.
LUT_SIZE = 256


def table_depth(widths):
    """Entries of the table each multiplier lane reads: 256 with 8-bit slots, 16
    with 4-bit ones only, 0 with raw 16-bit weights only."""
    return LUT_SIZE if 8 in widths else 16 if 4 in widths else 0


def _check_lut(lut, slot):
    lut = np.asarray(lut)
    if slot == 16:
        return lut
    if lut.ndim != 1 or lut.size < 1 << slot:
        raise ValueError(f"lut must be 1-D with at least {1 << slot} entries for "
                         f"{slot}-bit slots, not shape {lut.shape}")
    if lut.dtype.kind not in "iu" or lut.min() < -32768 or lut.max() > 32767:
        raise ValueError("lut entries must be int16 values")
    return lut.astype(np.int64)


def lookup(codes, lut, slot):
    """The int16 weights of ``slot``-bit codes (unsigned ``slot``-bit integers;
    16-bit codes may also be given as int16 values): ``lut[code]`` for 4- and
    8-bit slots, the code's 16 bits read as int16 for 16-bit ones."""
    if slot not in (4, 8, 16):
        raise ValueError(f"slot must be 4, 8 or 16, not {slot!r}")
    codes = np.asarray(codes, dtype=np.int64)
    low = -(1 << 15) if slot == 16 else 0
    if codes.size and (codes.min() < low or codes.max() >= 1 << slot):
        raise ValueError(f"codes must be {slot}-bit unsigned integers")
    if slot == 16:
        return (codes & 0xFFFF).astype(np.uint16).view(np.int16)
    return _check_lut(lut, slot)[codes].astype(np.int16)


def decode(word, lut, slot, tm):
    """Decode one SB word into its ``64 * tm / slot`` int16 weights."""
    return lookup(unpack([word], slot, tm), lut, slot)


def decode_stream(words, lut, slot, tm, count=None):
    """Decode a sequence of words and return the first ``count`` weights."""
    per = slots_per_word(slot, tm)
    out = np.concatenate([decode(w, lut, slot, tm) for w in words]) if words else \
        np.zeros(0, dtype=np.int16)
    if count is not None:
        if count > len(words) * per:
            raise ValueError(f"count {count} exceeds the {len(words) * per} slots")
        out = out[:count]
    return out
