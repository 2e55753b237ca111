"""How data sits in the accelerator's memory (word-addressed, ``mem_width`` bits).

A neuron vector of ``n`` positions occupies ``ceil(n / window)`` NSM windows:

* bitmaps: one row of ``window`` bits per window at ``bm_addr + w * bitmap_words``
  (bit ``p`` of the row = position ``w * window + p``; word ``j`` holds bits
  ``[j * mem_width, (j+1) * mem_width)``);
* values: window ``w`` at ``val_addr + w * nbin_words`` (a fixed stride, so each
  window can be found without the others); its nonzeros packed from lane 0,
  ``mem_width / 16`` int16 lanes per word, lane ``k`` in bits ``[16k, 16k+16)``.
  Only ``ceil(nonzeros / lanes)`` words per window are moved.  In dense mode
  every position is a value and there is no bitmap.

SB rows (one ``64 * tm``-bit word per PE) are stored row by row, the ``tn`` PEs'
words of a row one after the other; bias rows hold ``tn`` int32; LUTs hold
``mem_width / 16`` int16 entries per word; instructions take ``128 / mem_width``
words.  Multi-word items are little-endian (word 0 holds the low bits).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["MemoryImage", "VectorLayout", "split_words", "join_words", "pack_values",
           "unpack_values", "encode_vector", "decode_vector"]


class MemoryImage(dict):
    """A sparse memory image: word address → unsigned word."""

    def __init__(self, width):
        super().__init__()
        self.width = width
        self.next_free = 0

    def alloc(self, n_words):
        addr = self.next_free
        self.next_free += max(0, int(n_words))
        return addr

    def write(self, addr, words):
        mask = (1 << self.width) - 1
        for k, w in enumerate(words):
            if not 0 <= int(w) <= mask:
                raise ValueError(f"word {w} does not fit {self.width} bits")
            self[addr + k] = int(w)

    def read(self, addr, n):
        return [self.get(addr + k, 0) for k in range(n)]


def split_words(value, bits, width):
    """A ``bits``-bit unsigned value as ``bits / width`` little-endian words."""
    mask = (1 << width) - 1
    return [(int(value) >> (k * width)) & mask for k in range(bits // width)]


def join_words(words, width):
    return sum(int(w) << (k * width) for k, w in enumerate(words))


def pack_values(values, width):
    """int16 values into words of ``width / 16`` lanes (zero-padded)."""
    lanes = width // 16
    values = [int(v) & 0xFFFF for v in values]
    return [sum(v << (16 * k) for k, v in enumerate(values[i:i + lanes]))
            for i in range(0, len(values), lanes)]


def unpack_values(words, width, count):
    lanes = width // 16
    out = []
    for w in words:
        out.extend((int(w) >> (16 * k)) & 0xFFFF for k in range(lanes))
    out = np.array(out[:count], dtype=np.int64)
    return np.where(out >= 1 << 15, out - (1 << 16), out).astype(np.int16)


@dataclass
class VectorLayout:
    """Where a neuron vector lives: ``n`` positions from ``bm_addr`` / ``val_addr``."""
    n: int
    bm_addr: int
    val_addr: int
    dense: bool = False

    def windows(self, cfg):
        return -(-self.n // cfg.window)

    @classmethod
    def allocate(cls, image, cfg, n, dense):
        windows = -(-n // cfg.window)
        bm = 0 if dense else image.alloc(windows * cfg.words["bitmap"])
        val = image.alloc(windows * cfg.words["nbin"])
        return cls(n, bm, val, dense)


def encode_vector(image, layout, cfg, values):
    """Write int16 ``values`` (length ``layout.n``) into ``image`` in the layout's format."""
    values = np.asarray(values)
    if values.shape != (layout.n,):
        raise ValueError(f"vector has shape {values.shape}, the layout holds ({layout.n},)")
    W, w = cfg.window, cfg.mem_width
    for win in range(layout.windows(cfg)):
        chunk = np.zeros(W, dtype=np.int64)
        part = values[win * W:(win + 1) * W]
        chunk[:part.size] = part
        if layout.dense:
            vals = chunk
        else:
            bits = chunk != 0
            row = sum(1 << p for p in range(W) if bits[p])
            image.write(layout.bm_addr + win * cfg.words["bitmap"], split_words(row, W, w))
            vals = chunk[bits]
        image.write(layout.val_addr + win * cfg.words["nbin"], pack_values(vals, w))


def decode_vector(image, layout, cfg):
    """Read a vector back from ``image``: int16 ``(layout.n,)``."""
    W, w = cfg.window, cfg.mem_width
    out = np.zeros(layout.windows(cfg) * W, dtype=np.int16)
    lanes = w // 16
    for win in range(layout.windows(cfg)):
        base = layout.val_addr + win * cfg.words["nbin"]
        if layout.dense:
            out[win * W:(win + 1) * W] = unpack_values(image.read(base, W // lanes), w, W)
            continue
        row = join_words(image.read(layout.bm_addr + win * cfg.words["bitmap"],
                                    cfg.words["bitmap"]), w)
        bits = np.array([(row >> p) & 1 for p in range(W)], dtype=bool)
        count = int(bits.sum())
        vals = unpack_values(image.read(base, -(-count // lanes)), w, count)
        out[win * W + np.flatnonzero(bits)] = vals
    return out[:layout.n]
