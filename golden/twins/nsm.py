"""Golden model of the neuron selector module (NSM, thesis §4.2.1, docs/architecture.md §3).

The NSM ANDs the neuron bitmap (NIBin) with the shared synapse bitmap (SIB),
and for every position where both are set emits a pair (neuron index, synapse
index): the position's rank among the set bits of each bitmap, i.e. its index
into the compressed neurons and into the compressed weights.  Indices are
0-based and run on across windows; a window of ``window`` positions yields at
most ``tm`` pairs per cycle, and no cycle mixes two windows.

Worked example of the thesis (1-based there): ``11101010 & 00110011 =
00100010``; neuron flags 3, 5 and synapse flags 1, 3 (the thesis prints "14",
an erratum).  0-based: ``[(2, 0), (4, 2)]``.
"""

import numpy as np

from golden.contract.bitmap import as_bitmap, exclusive_prefix

__all__ = ["select", "beats", "window_pairs"]


def _check(neuron_bitmap, synapse_bitmap, tm, window):
    nb = as_bitmap(neuron_bitmap, "neuron_bitmap")
    sb = as_bitmap(synapse_bitmap, "synapse_bitmap")
    if nb.shape != sb.shape:
        raise ValueError(f"neuron_bitmap and synapse_bitmap must have the same length, "
                         f"not {nb.size} and {sb.size}")
    if isinstance(tm, bool) or not isinstance(tm, (int, np.integer)) or tm < 1:
        raise ValueError(f"tm must be a positive integer, not {tm!r}")
    window = 16 * tm if window is None else window
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer, not {window!r}")
    return nb, sb, int(tm), int(window)


def window_pairs(neuron_bitmap, synapse_bitmap, window):
    """Per window, the array of ``(neuron_index, synapse_index)`` pairs (shape ``(n, 2)``)."""
    nb, sb, _, window = _check(neuron_bitmap, synapse_bitmap, 1, window)
    nidx, sidx = exclusive_prefix(nb), exclusive_prefix(sb)
    both = nb & sb
    out = []
    for start in range(0, nb.size, window):
        pos = np.flatnonzero(both[start:start + window]) + start
        out.append(np.stack([nidx[pos], sidx[pos]], axis=1))
    return out


def select(neuron_bitmap, synapse_bitmap, tm, window=None):
    """The NSM's output, cycle by cycle.

    Parameters
    ----------
    neuron_bitmap, synapse_bitmap : bitmaps of equal length (bool/int arrays or "0101" strings)
    tm : int
        Pairs per cycle at most.
    window : int, optional
        Positions per window; default ``16 * tm``.

    Returns
    -------
    list of cycles, each a list of ``(neuron_index, synapse_index)`` int pairs in
    bitmap order.  A window with ``p`` pairs gives ``ceil(p / tm)`` cycles; a
    window with none gives no cycle.
    """
    nb, sb, tm, window = _check(neuron_bitmap, synapse_bitmap, tm, window)
    cycles = []
    for pairs in window_pairs(nb, sb, window):
        for c in range(0, len(pairs), tm):
            cycles.append([(int(n), int(s)) for n, s in pairs[c:c + tm]])
    return cycles


def beats(neuron_bitmap, synapse_bitmap, tm, window=None):
    """The hardware NSM's output beats for one tile: :func:`select`'s cycles as
    ``(pairs, last)``; ``last`` marks the tile's final beat.

    When the tile's final window holds no pair, the last flag cannot ride on a
    beat that has already left, so one empty beat ``([], True)`` closes the
    tile (this also gives a tile with no pair at all exactly one beat, which the
    PE needs to emit its output).
    """
    nb, sb, tm, window = _check(neuron_bitmap, synapse_bitmap, tm, window)
    per_window = window_pairs(nb, sb, window)
    out = []
    for w, pairs in enumerate(per_window):
        chunks = [pairs[c:c + tm] for c in range(0, len(pairs), tm)]
        final_window = w == len(per_window) - 1
        for c, chunk in enumerate(chunks):
            out.append(([(int(n), int(s)) for n, s in chunk],
                        final_window and c == len(chunks) - 1))
    if not out or not out[-1][1]:
        out.append(([], True))
    return out
