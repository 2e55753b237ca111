"""The SIB's layout: window masks, so that the compute unit feeds the NSM only
the windows that hold a synapse (docs/architecture.md §3, NSM: "skipping windows with none").

A group's shared synapse bitmap spans ``windows`` NSM windows of ``W`` positions
(``W = 16·Tm``, one SIB row).  The windows are taken in *segments* of ``W``
(one mask row covers a segment: bit ``k`` is window ``s·W + k``):

* per segment a **mask row**: bit ``k`` set when window ``s·W + k`` holds a
  synapse (a set position of the shared bitmap);
* then only those windows' **bitmap rows**, in order.

A segment without any synapse feeds its first window alone: its mask reads as
bit 0 (the compiler sets it) and that window's all-zero row is stored, so every
segment feeds at least one window and every group's tile is closed by a
``last`` window.  Bits past the group's last window must be clear.

In a ``COMPUTE`` of ``groups`` groups starting at SIB row ``sib_row``, the mask
rows come first (group by group, segment by segment: ``groups · segments``
rows), then the bitmap rows of every group in the same order; that is a
``COMPUTE`` with ``skip`` set.  Without it the SIB holds every window's row
(``windows`` rows per group, no masks): the compiler chooses that when no
window would be skipped, where mask rows would only take SIB room.  The compute
unit reads the masks through a second read port ahead of the rows, so a
skipped window costs no cycle.  Golden twin of :mod:`hdl.control.compute`'s feed;
:mod:`golden.compiler` writes this layout and :mod:`golden.twins.machine` reads it.
"""

import numpy as np

__all__ = ["segments", "pack", "fed_windows", "unpack"]


def segments(windows, width):
    """Mask rows per group: ``ceil(windows / width)``."""
    return -(-int(windows) // int(width))


def pack(bitmap_rows):
    """``(masks, rows)`` of one group from its ``(windows, W)`` bool bitmap rows:
    ``masks`` ``(segments, W)`` bool, ``rows`` ``(fed, W)`` bool (the fed windows')."""
    rows = np.asarray(bitmap_rows, dtype=bool)
    n_win, W = rows.shape
    padded = np.zeros((segments(n_win, W) * W, W), dtype=bool)
    padded[:n_win] = rows
    masks = padded.any(axis=1).reshape(-1, W)     # bit k of row s: window s·W + k
    masks[~masks.any(axis=1), 0] = True       # an empty segment: its first window
    return masks, rows[fed_windows(masks, n_win)]


def fed_windows(masks, windows):
    """The windows (indices into the group's bitmap) a group's mask rows feed, in
    order; a mask without a set bit feeds its segment's first window."""
    masks = np.asarray(masks, dtype=bool)
    W = masks.shape[1]
    out = []
    for s, mask in enumerate(masks):
        hit = np.flatnonzero(mask)
        hit = hit if hit.size else np.array([0])
        if s * W + hit[-1] >= windows:
            raise ValueError(f"SIB mask row of segment {s} sets window {s * W + hit[-1]}, "
                             f"but the group has {windows} windows")
        out += [s * W + int(k) for k in hit]
    return out


def unpack(masks, rows, windows):
    """``(bitmap, fed)``: the group's ``(windows * W,)`` shared bitmap (zeros in the
    skipped windows) and the fed windows, from its mask rows and bitmap rows."""
    masks = np.asarray(masks, dtype=bool)
    W = masks.shape[1]
    fed = fed_windows(masks, windows)
    rows = np.asarray(rows, dtype=bool)
    if rows.shape != (len(fed), W):
        raise ValueError(f"{len(fed)} fed windows need {len(fed)} SIB rows, got {rows.shape[0]}")
    bitmap = np.zeros((windows, W), dtype=bool)
    bitmap[fed] = rows
    return bitmap.reshape(-1), fed
