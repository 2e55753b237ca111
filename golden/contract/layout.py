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

A ``(C, H, W)`` feature map (:class:`MapLayout`) is a vector too: a grid of
``(H + 2 pad) × (W + 2 pad)`` pixel records, row-major, each record the pixel's
``C`` channels in ``ceil(C / window)`` whole windows (channel ``c`` at position
``c`` of the record; the rest zeros), the border records zero (written by the
compiler: memory need not start cleared).  A convolution's patch is then
``kh`` runs of ``kw`` consecutive records, one run per kernel row, a grid row
apart: one segmented LOAD each of NIBin and NBin (:class:`Gather`, ``LOAD
segments``), in (kernel row, kernel column, channel) order; an Encoder STORE
writes an output pixel's record whole.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["MemoryImage", "VectorLayout", "MapLayout", "Gather", "store_windows",
           "split_words", "join_words",
           "pack_values", "unpack_values", "encode_vector", "decode_vector"]


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
    """A ``bits``-bit unsigned value as ``ceil(bits / width)`` little-endian words (a
    value narrower than a word takes a whole word, zero-padded)."""
    mask = (1 << width) - 1
    return [(int(value) >> (k * width)) & mask for k in range(-(-bits // width))]


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


def store_windows(f, cfg):
    """The windows a decoded ``STORE`` writes, in the order the store unit writes
    them: ``(row, rows, val_addr, bm_addr)`` each — its first NBout row in the
    half, how many of its ``G`` rows hold outputs (the rest read as 0), where its
    values and bitmap go.  Vector ``v``'s windows follow vector ``v - 1``'s in NBout
    and lie ``vec_step`` words further in memory; one rule for the golden
    machine, the performance model and the tests (:mod:`golden.contract.isa`)."""
    G, n = cfg.groups_per_window, f["windows"]
    out = []
    for v in range(max(1, f.get("vectors", 0))):
        step = v * f.get("vec_step", 0)
        for w in range(n):
            out.append((f["row"] + (v * n + w) * G, min(G, max(0, f["rows"] - w * G)),
                        f["mem_addr"] + step + w * cfg.words["nbin"],
                        f["bm_addr"] + step + w * cfg.words["bitmap"]))
    return out


@dataclass
class VectorLayout:
    """Where a neuron vector lives: ``n`` positions from ``bm_addr`` / ``val_addr``."""
    n: int
    bm_addr: int
    val_addr: int
    dense: bool = False

    def windows(self, cfg):
        return -(-self.n // cfg.window)

    def rows(self, cfg):
        """``(count, segments, bitmap step, value step)`` of the LOADs that bring it
        into NIBin/NBin: its windows in one segment."""
        return self.windows(cfg), 1, 0, 0

    @classmethod
    def allocate(cls, image, cfg, n, dense):
        windows = -(-n // cfg.window)
        bm = 0 if dense else image.alloc(windows * cfg.words["bitmap"])
        val = image.alloc(windows * cfg.words["nbin"])
        return cls(n, bm, val, dense)


@dataclass
class Gather:
    """A convolution patch in a :class:`MapLayout`: ``segments`` runs of ``count``
    windows (``count`` consecutive windows: a kernel row's records), the runs
    ``bm_step`` / ``val_step`` words apart (a grid row), from ``bm_addr`` /
    ``val_addr``; ``n = segments * count * window`` positions."""
    n: int
    bm_addr: int
    val_addr: int
    dense: bool
    count: int
    segments: int
    bm_step: int
    val_step: int

    def windows(self, cfg):
        return self.segments * self.count

    def rows(self, cfg):
        return self.count, self.segments, self.bm_step, self.val_step


@dataclass
class MapLayout:
    """A ``(c, h, w)`` feature map in memory, zero padded by ``pad`` on every side:
    the grid of pixel records of the module's doc, as the vector ``vec`` (positions
    in (grid row, grid column, channel slot) order)."""
    c: int
    h: int
    w: int
    pad: int
    vec: VectorLayout
    record_windows: int      # windows per pixel record: ceil(c / window)
    window: int

    @property
    def grid(self):
        return self.h + 2 * self.pad, self.w + 2 * self.pad

    @property
    def slots(self):
        """Positions per pixel record."""
        return self.record_windows * self.window

    @classmethod
    def allocate(cls, image, cfg, c, h, w, pad, dense):
        """A map's records, every one written zero (the border stays so)."""
        rw = -(-c // cfg.window)
        n = (h + 2 * pad) * (w + 2 * pad) * rw * cfg.window
        vec = VectorLayout.allocate(image, cfg, n, dense)
        encode_vector(image, vec, cfg, np.zeros(n, dtype=np.int16))
        return cls(c, h, w, pad, vec, rw, cfg.window)

    def to_grid(self, x):
        """int16 ``(c, h, w)`` → the padded grid ``(h + 2 pad, w + 2 pad, slots)``."""
        x = np.asarray(x)
        if x.shape != (self.c, self.h, self.w):
            raise ValueError(f"the map holds ({self.c}, {self.h}, {self.w}), not {x.shape}")
        hp, wp = self.grid
        g = np.zeros((hp, wp, self.slots), dtype=np.int16)
        g[self.pad:self.pad + self.h, self.pad:self.pad + self.w, :self.c] = x.transpose(1, 2, 0)
        return g

    def from_grid(self, g):
        """The padded grid → int16 ``(c, h, w)``."""
        g = np.asarray(g).reshape(*self.grid, self.slots)
        return g[self.pad:self.pad + self.h, self.pad:self.pad + self.w,
                 :self.c].transpose(2, 0, 1).astype(np.int16)

    def _at(self, cfg, r):
        return (0 if self.vec.dense else self.vec.bm_addr + r * self.record_windows
                * cfg.words["bitmap"],
                self.vec.val_addr + r * self.record_windows * cfg.words["nbin"])

    def record(self, cfg, y, x):
        """Pixel ``(y, x)``'s record (unpadded coordinates) as a vector of ``c``."""
        bm, val = self._at(cfg, (y + self.pad) * self.grid[1] + x + self.pad)
        return VectorLayout(self.c, bm, val, self.vec.dense)

    def patch(self, cfg, oy, ox, kh, kw, stride):
        """The :class:`Gather` of output pixel ``(oy, ox)``'s ``kh × kw`` patch (padded
        grid from ``(oy * stride, ox * stride)``)."""
        hp, wp = self.grid
        if not (oy * stride + kh <= hp and ox * stride + kw <= wp):
            raise ValueError(f"a {kh}x{kw} patch at ({oy}, {ox}), stride {stride}, leaves the "
                             f"{hp}x{wp} padded grid")
        bm, val = self._at(cfg, oy * stride * wp + ox * stride)
        rw = self.record_windows
        return Gather(kh * kw * self.slots, bm, val, self.vec.dense, kw * rw, kh,
                      0 if self.vec.dense else wp * rw * cfg.words["bitmap"],
                      wp * rw * cfg.words["nbin"])

    def patch_values(self, grid, oy, ox, kh, kw, stride):
        """The values a patch's LOADs bring, in their order, from the padded ``grid``."""
        return grid[oy * stride:oy * stride + kh, ox * stride:ox * stride + kw].reshape(-1)

    def encode(self, image, cfg, x):
        encode_vector(image, self.vec, cfg, self.to_grid(x).reshape(-1))

    def decode(self, image, cfg):
        return self.from_grid(decode_vector(image, self.vec, cfg))


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
