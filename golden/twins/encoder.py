"""Golden model of the Encoder (thesis §4.2.1, docs/architecture.md §3).

The Encoder compresses output neurons on the fly into direct indexing: the
nonzero values in order and a bitmap with 1 where the value is nonzero.  The
hardware takes ``window = 4 * tn`` neurons at a time and emits up to ``tn``
nonzeros per cycle; a window with ``z`` nonzeros takes ``max(1, ceil(z / tn))``
cycles (an all-zero window still emits one beat carrying its bitmap).
"""

import numpy as np

__all__ = ["encode", "decode", "beats"]


def encode(values):
    """``(nonzeros, bitmap)``: the nonzero int16 values in order and a bool bitmap."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, not shape {values.shape}")
    if values.size and values.dtype.kind not in "iu":
        raise TypeError(f"values must be integers, not {values.dtype}")
    bitmap = values != 0
    return values[bitmap].astype(np.int16), bitmap


def decode(nonzeros, bitmap):
    """The inverse of :func:`encode`: the dense int16 vector."""
    bitmap = np.asarray(bitmap, dtype=bool)
    nonzeros = np.asarray(nonzeros)
    if int(bitmap.sum()) != nonzeros.size:
        raise ValueError(f"bitmap has {int(bitmap.sum())} set bits but there are "
                         f"{nonzeros.size} nonzeros")
    out = np.zeros(bitmap.size, dtype=np.int16)
    out[bitmap] = nonzeros
    return out


def beats(values, tn, window=None):
    """The hardware Encoder's output beats: ``(nonzeros, bitmap, first, end, last)``
    per beat, ``bitmap`` the window's (``window`` bools, zero-padded past the end),
    ``first`` on a window's first beat, ``end`` on its final one, ``last`` on the
    final beat of the vector."""
    values = np.asarray(values)
    window = 4 * tn if window is None else window
    n_windows = max(1, -(-values.size // window))
    out = []
    for w in range(n_windows):
        chunk = np.zeros(window, dtype=np.int64)
        part = values[w * window:(w + 1) * window]
        chunk[:part.size] = part
        nz, bm = encode(chunk)
        pieces = [nz[c:c + tn] for c in range(0, nz.size, tn)] or [nz[:0]]
        for c, piece in enumerate(pieces):
            end = c == len(pieces) - 1
            out.append((piece.astype(np.int16), bm, c == 0, end, w == n_windows - 1 and end))
    return out
