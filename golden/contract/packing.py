"""The 4-bit-aligned weight packing of docs/architecture.md §2 (the SB word layout).

Quantized weight indices of ``bits`` bits are stored in slots of 4 bits
(bits ≤ 4), 8 bits (bits ≤ 8) or, above 8 bits, as raw int16 weights with no
lookup.  A memory word is ``64 * tm`` bits and holds ``16 * tm``, ``8 * tm`` or
``4 * tm`` slots, and a word is stored little-endian (byte 0 holds bits 0..7).
The last word is padded with zero slots.

An SB word is read ``4 * tm`` slots at a time (an SSM window, ``q``-th of the
word), so its slots are *lane-interleaved*: slot ``k`` is code ``j = k mod
4*tm`` of window ``q = k div 4*tm`` and sits in the word's 16-bit lane ``j``, at
bits ``[16*j + q*slot, 16*j + (q+1)*slot)`` (:func:`slot_offset`).  Whatever the
slot width, a window's code ``j`` comes from lane ``j`` alone: the SSM's window
extraction is a multiplexer within each 16-bit lane, local to the block RAM
that holds it.  With 16-bit slots this is slot ``k`` at bits ``[16*k, 16*k+16)``.
``interleaved=False`` packs slots one after another (slot ``k`` at bits
``[k * slot, (k+1) * slot)``): the compressed model file's index stream.
"""

import numpy as np

__all__ = ["SLOT_WIDTHS", "check_widths", "slot_bits", "word_bits", "slots_per_word",
           "slot_offset", "pack", "unpack", "words_to_bytes", "bytes_to_words"]

SLOT_WIDTHS = (4, 8, 16)


def check_widths(widths):
    """``widths`` (the slot widths a configuration supports) as a sorted tuple,
    checked to be a non-empty subset of (4, 8, 16)."""
    try:
        out = tuple(sorted(set(widths)))
    except TypeError:
        out = ()
    if not out or not set(out) <= set(SLOT_WIDTHS):
        raise ValueError(f"widths must be a non-empty subset of (4, 8, 16), not {widths!r}")
    return out


def slot_bits(bits):
    """The slot width for ``bits``-bit indices: 4, 8 or 16 (16 = raw int16 weights)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer in 1..16, not {bits!r}")
    return 4 if bits <= 4 else 8 if bits <= 8 else 16


def _check_slot(slot):
    if slot not in SLOT_WIDTHS:
        raise ValueError(f"slot must be one of 4, 8, 16, not {slot!r}")


def word_bits(tm):
    return 64 * int(tm)


def slots_per_word(slot, tm):
    _check_slot(slot)
    return word_bits(tm) // slot


def slot_offset(k, slot, tm, interleaved=True):
    """Bit offset of slot ``k`` (``0 <= k < slots_per_word(slot, tm)``) in a word:
    lane-interleaved (an SB word), ``16 * (k % (4*tm)) + slot * (k // (4*tm))``, or
    with ``interleaved=False`` ``k * slot``."""
    per = slots_per_word(slot, tm)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < per:
        raise ValueError(f"k must be a slot index in 0..{per - 1}, not {k!r}")
    if not interleaved:
        return int(k) * slot
    W = 4 * int(tm)
    return 16 * (int(k) % W) + slot * (int(k) // W)


def pack(values, slot, tm, interleaved=True):
    """Pack ``values`` into words (a list of Python ints of ``64 * tm`` bits), slot
    ``k`` of a word at :func:`slot_offset` (lane-interleaved SB words unless
    ``interleaved=False``).

    For 4- and 8-bit slots ``values`` are unsigned indices ``< 2**slot``; for
    16-bit slots they are int16 weights (stored in two's complement).
    """
    _check_slot(slot)
    values = np.asarray(values).reshape(-1)
    if values.size and values.dtype.kind not in "iu":
        raise TypeError(f"values must be integers, not {values.dtype}")
    values = values.astype(np.int64)
    if slot == 16:
        if values.size and (values.min() < -32768 or values.max() > 32767):
            raise ValueError("16-bit slots hold int16 weights: values must be in -32768..32767")
        values = values & 0xFFFF
    elif values.size and (values.min() < 0 or values.max() >= 1 << slot):
        raise ValueError(f"{slot}-bit slots hold indices 0..{(1 << slot) - 1}")
    per = slots_per_word(slot, tm)
    at = [slot_offset(k, slot, tm, interleaved) for k in range(per)]
    words = []
    for start in range(0, values.size, per):
        word = 0
        for k, v in enumerate(values[start:start + per]):
            word |= int(v) << at[k]
        words.append(word)
    return words


def unpack(words, slot, tm, count=None, interleaved=True):
    """The inverse of :func:`pack` (the same ``interleaved``): ``count`` values
    (default: every slot) as int64; 16-bit slots come back as signed int16 values."""
    _check_slot(slot)
    per = slots_per_word(slot, tm)
    at = [slot_offset(k, slot, tm, interleaved) for k in range(per)]
    mask = (1 << slot) - 1
    out = []
    for word in words:
        word = int(word)
        if word < 0 or word >> word_bits(tm):
            raise ValueError(f"a word must be an unsigned {word_bits(tm)}-bit integer")
        out.extend((word >> a) & mask for a in at)
    values = np.array(out, dtype=np.int64)
    if count is not None:
        if count > values.size:
            raise ValueError(f"count {count} exceeds the {values.size} slots of {len(words)} words")
        values = values[:count]
    if slot == 16:
        values = np.where(values >= 1 << 15, values - (1 << 16), values)
    return values


def words_to_bytes(words, tm):
    """Words as a little-endian byte array (``8 * tm`` bytes per word)."""
    n = word_bits(tm) // 8
    return np.frombuffer(b"".join(int(w).to_bytes(n, "little") for w in words), dtype=np.uint8)


def bytes_to_words(data, tm):
    n = word_bits(tm) // 8
    data = np.asarray(data, dtype=np.uint8).tobytes()
    if len(data) % n:
        raise ValueError(f"byte count {len(data)} is not a multiple of the word size {n}")
    return [int.from_bytes(data[i:i + n], "little") for i in range(0, len(data), n)]
