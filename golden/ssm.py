"""Golden model of the synapse selector module (SSM, thesis §4.2.1, DESIGN §3).

Each PE's SSM picks, for every NSM beat, the weights named by the beat's
synapse indices out of the PE's compressed weights (those at the set positions
of the shared synapse bitmap).  It sees the decoded weights through a window of
``window`` (default ``4 * tm``) consecutive compressed weights; a beat whose
indices fall into ``k`` distinct windows takes ``k`` cycles (at least one).
All PEs share the indices, so all SSMs step through the same windows in
lockstep.
"""

import numpy as np

__all__ = ["select", "windows", "steps", "cycles"]


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
