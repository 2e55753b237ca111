"""Golden model of the PE functional unit (PEFU, thesis §4.2.4, docs/architecture.md §3).

Per beat the PEFU multiplies ``Tm`` (neuron, weight) pairs, sums the products
in its adder tree, and adds the sum to its accumulator; the beat flagged
``last`` closes one output neuron, whose exact accumulator goes through
:func:`golden.contract.fixed.output_stage` with that output's bias, shift and
activation.  Everything here is exact integer arithmetic: the hardware must
reproduce it bit for bit.
"""

import numpy as np

from golden.contract.fixed import output_stage

__all__ = ["beat_sums", "accumulate", "pefu", "check_pool", "pool_max"]


def _int_matrix(name, x):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (beats, tm), not shape {x.shape}")
    if x.size and x.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, not {x.dtype}")
    return x.astype(np.int64)


def beat_sums(neurons, weights):
    """The adder tree: the exact sum of the ``tm`` products of every beat.

    ``neurons`` and ``weights`` are ``(beats, tm)`` integer arrays; returns int64 ``(beats,)``.
    """
    neurons = _int_matrix("neurons", neurons)
    weights = _int_matrix("weights", weights)
    if neurons.shape != weights.shape:
        raise ValueError(f"neurons and weights must have the same shape, "
                         f"not {neurons.shape} and {weights.shape}")
    return (neurons * weights).sum(axis=1)


def accumulate(sums, last):
    """Exact accumulation of beat sums; each ``last`` beat closes one output.

    Returns int64 ``(outputs,)``, one accumulator per ``last`` beat.  Beats after
    the final ``last`` belong to no output and are rejected.
    """
    sums = np.asarray(sums, dtype=np.int64)
    last = np.asarray(last, dtype=bool)
    if last.shape != sums.shape:
        raise ValueError(f"last must have one flag per beat ({sums.shape}), not {last.shape}")
    if sums.size and not last[-1]:
        raise ValueError("the final beat must have last set: an output is left open")
    ends = np.flatnonzero(last)
    totals = np.cumsum(sums)[ends]
    return np.diff(totals, prepend=0)


def _per_output(name, value, n):
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 0:
        return [value] * n
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have one entry per output ({n}), "
                         f"not shape {arr.shape}")
    return list(value)


def pefu(neurons, weights, last, bias=0, shift=0, activation="identity"):
    """What the PEFU emits for a sequence of input beats.

    Parameters
    ----------
    neurons, weights : int arrays ``(beats, tm)``
    last : bool array ``(beats,)``; the final beat must be ``last``.
    bias, shift, activation : scalar, or one entry per output (per ``last`` beat)
        as :func:`golden.contract.fixed.output_stage` takes them.

    Returns
    -------
    numpy.ndarray of int16, one value per output.
    """
    acc = accumulate(beat_sums(neurons, weights), last)
    n = acc.size
    biases = _per_output("bias", bias, n)
    shifts = _per_output("shift", shift, n)
    acts = _per_output("activation", activation, n)
    out = np.empty(n, dtype=np.int16)
    for i in range(n):
        out[i] = output_stage(acc[i], int(biases[i]), int(shifts[i]), acts[i])
    return out


def check_pool(pool, vectors):
    """``pool`` (input vectors per pooled output) as an int; ``ValueError`` unless
    it is an integer >= 1 that divides ``vectors``."""
    if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or pool < 1:
        raise ValueError(f"pool must be an integer >= 1 (input vectors per pooled output), "
                         f"not {pool!r}")
    if vectors % pool:
        raise ValueError(f"pool = {pool}: the {vectors} input vectors are not a whole number "
                         f"of pool windows")
    return int(pool)


def pool_max(held, out):
    """Max pooling in the PEFU's output stage: the int16 ``out`` of a tile
    combined with the int16 values ``held`` in its NBout row (signed, lane by
    lane).  A pool window's first tile writes its outputs, every later one
    keeps the larger; ``COMPUTE pool=1`` does this in hardware."""
    return np.maximum(np.asarray(held, dtype=np.int64), np.asarray(out, dtype=np.int64))
