"""Golden model of the weight decoding module (WDM, thesis §4.2.2, docs/architecture.md §3).

Each PE's WDM holds a lookup table (the codebook of the quantization region its
weights come from) and turns one SB word of ``64 * tm`` bits into weights: the
``16 * tm`` 4-bit or ``8 * tm`` 8-bit slots are looked up, ``4 * tm`` 16-bit slots
are raw int16 weights and pass through.  The layout is :mod:`golden.contract.packing`.
"""

import numpy as np

from golden.contract.packing import slots_per_word, unpack

__all__ = ["LUT_SIZE", "decode", "decode_stream"]

#: Entries of the hardware LUT: enough for 8-bit indices.
LUT_SIZE = 256


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


def decode(word, lut, slot, tm):
    """Decode one SB word into its ``64 * tm / slot`` int16 weights."""
    values = unpack([word], slot, tm)
    if slot == 16:
        return values.astype(np.int16)
    return _check_lut(lut, slot)[values].astype(np.int16)


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
