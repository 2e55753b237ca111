"""Golden model of the synapse selector module (SSM, thesis §4.2.1, docs/architecture.md §3).

Each PE's SSM picks, for every NSM beat, the weights named by the beat's
synapse indices out of the PE's compressed weights (those at the set positions
of the shared synapse bitmap).  It sees the decoded weights through windows of
``window`` (default ``4 * tm``) consecutive compressed weights, aligned to
multiples of ``window``: each cycle (a *step*) it reads one window, and it keeps
the window of the step before (the *held* window), so a step resolves the
lanes whose index lies in the window read or in the held one.  All PEs share
the indices, so all SSMs step through the same windows in lockstep.

:func:`tile_steps` is the exact schedule of the hardware sequencer: per beat,
while lanes are pending, read the window of the first pending lane — unless
that window is the held one, then the window of the first pending lane outside
it (or the held one again if none); a beat with no lane is one step.  The
indices rise through the tile (the NSM's order; anything else is an error),
so only a beat's first lanes can be in the held window.  The held
window is forgotten at the start of every tile.  With this, a stream of beats
whose indices move forward (weight sparsity) takes one step per beat.
"""

import numpy as np

__all__ = ["select", "windows", "steps", "cycles", "tile_steps"]


def select(weights, synapse_indices):
    """The weights at ``synapse_indices`` (int16), in order."""
    weights = np.asarray(weights)
    idx = np.asarray(synapse_indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= weights.size):
        raise IndexError(f"synapse index out of range 0..{weights.size - 1}")
    return weights[idx].astype(np.int16)


def windows(synapse_indices, tm, window=None):
    """The distinct windows (``index // window``) a beat's indices visit, in order."""
    window = 4 * tm if window is None else window
    idx = [int(s) // window for s in synapse_indices]
    if idx != sorted(idx):
        raise ValueError("synapse indices of a beat must be increasing")
    return sorted(set(idx))


def steps(synapse_indices, tm, window=None):
    """The SSM's steps for one beat: ``(window, lanes)`` per window touched, ``lanes``
    the beat's lane numbers whose index lies in it; an empty beat is one step
    ``(None, [])``."""
    window = 4 * tm if window is None else window
    wins = windows(synapse_indices, tm, window)
    if not wins:
        return [(None, [])]
    return [(w, [k for k, s in enumerate(synapse_indices) if int(s) // window == w])
            for w in wins]


def cycles(synapse_indices, tm, window=None):
    """Cycles the SSM spends on one beat: the windows it visits, at least one."""
    return max(1, len(windows(synapse_indices, tm, window)))


def tile_steps(beat_indices, tm, window=None):
    """The steps of one tile's beats (lists of increasing synapse indices):
    per beat a list of ``(window_read, lanes_from_read, lanes_from_held)``."""
    window = 4 * tm if window is None else window
    held = None
    out = []
    prev = -1
    for idx in beat_indices:
        if any(int(a) >= int(b) for a, b in zip([prev, *idx], idx)):
            raise ValueError("synapse indices of a tile must be increasing, within a beat "
                             "and from beat to beat (the NSM's order)")
        prev = int(idx[-1]) if len(idx) else prev
        wins = [int(s) // window for s in idx]
        pending = list(range(len(wins)))
        beat = []
        if not pending:
            r = 0 if held is None else held
            beat.append((r, [], []))
            held = r
        while pending:
            first = wins[pending[0]]
            if held is not None and first == held:
                others = [k for k in pending if wins[k] != held]
                r = wins[others[0]] if others else held
            else:
                r = first
            from_read = [k for k in pending if wins[k] == r]
            from_held = [k for k in pending if held is not None and wins[k] == held and r != held]
            pending = [k for k in pending if k not in from_read and k not in from_held]
            beat.append((r, from_read, from_held))
            held = r
        out.append(beat)
    return out
