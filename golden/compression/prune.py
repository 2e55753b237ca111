"""Coarse-grained pruning (thesis §3.2, docs/architecture.md §1).

A weight array is tiled by blocks — FC ``(N_out, N_in)`` by ``(B_out, B_in)``,
conv ``(N_fout, N_fin, K_y, K_x)`` by ``(B_fout, B_fin, B_y, B_x)`` — and a
block whose score falls below a threshold is removed whole.  Scores: ``max``
(largest |w| in the block) and ``avg`` (mean |w|); the thesis prefers ``avg``
above about 85 % sparsity.  A block size of 1 in every dimension is
fine-grained (magnitude) pruning.

Partial blocks.  Where a dimension is not a multiple of the block, the last
block along it is cut short; its score is taken over the weights it actually
holds (``avg`` divides by their number, not by the full block size), and it is
removed or kept whole like any other block.

The target sparsity sets the threshold: blocks are removed in order of rising
score while that brings the removed weight count closer to ``sparsity * size``,
so the result is within half a block of the target (ties in score are broken
by position, so the result is deterministic).
"""

import numpy as np

__all__ = ["SCORES", "check_block", "block_grid", "effective_block", "block_sizes",
           "block_scores", "expand", "prune",
           "iterative_prune", "align_block", "group_union", "sparsity"]

SCORES = ("max", "avg")


def check_block(shape, block, name="block"):
    """Validate a block shape against a weight shape; return it as a tuple of ints."""
    raw = np.atleast_1d(np.asarray(block))
    if raw.ndim != 1 or raw.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a tuple of integers, not {block!r}")
    block = tuple(int(b) for b in raw)
    if len(block) != len(shape):
        raise ValueError(f"{name} must have {len(shape)} dimensions for weights of shape "
                         f"{tuple(shape)}, not {block}")
    if any(b < 1 for b in block):
        raise ValueError(f"{name} dimensions must be >= 1, not {block}")
    return block


def block_grid(shape, block):
    """The number of blocks along each dimension (partial blocks included)."""
    return tuple(-(-n // b) for n, b in zip(shape, block))


def effective_block(shape, block):
    """The block cut to the weights' extents: a block longer than a dimension is
    one partial block along it, the same as a block of the dimension's length
    (and no array is ever allocated at the size of a block that overhangs)."""
    return tuple(min(int(b), int(n)) for n, b in zip(shape, block))


def _pad(w, block):
    block = effective_block(w.shape, block)
    grid = block_grid(w.shape, block)
    padded = np.zeros([g * b for g, b in zip(grid, block)], dtype=np.float64)
    present = np.zeros(padded.shape, dtype=bool)
    idx = tuple(slice(0, n) for n in w.shape)
    padded[idx] = np.abs(w)
    present[idx] = True
    # (g0, b0, g1, b1, ...) -> blocks on the even axes, block contents on the odd ones.
    split = [x for g, b in zip(grid, block) for x in (g, b)]
    return padded.reshape(split), present.reshape(split), grid


def block_scores(weights, block, score="avg"):
    """Per block its score: ``max`` or ``avg`` of |w| over the weights it holds."""
    if score not in SCORES:
        raise ValueError(f"score must be one of 'max', 'avg', not {score!r}")
    w = np.asarray(weights, dtype=np.float64)
    block = check_block(w.shape, block)
    padded, present, grid = _pad(w, block)
    inner = tuple(range(1, 2 * w.ndim, 2))
    if score == "max":
        return padded.max(axis=inner)
    return padded.sum(axis=inner) / present.sum(axis=inner)


def block_sizes(shape, block):
    """Per block (the block grid's shape) the number of weights it holds."""
    block = effective_block(shape, block)
    sizes = np.ones(block_grid(shape, block), dtype=np.int64)
    for axis, (n, b) in enumerate(zip(shape, block)):
        along = np.full(-(-n // b), b, dtype=np.int64)
        along[-1] = n - b * (len(along) - 1)
        view = [1] * len(shape)
        view[axis] = len(along)
        sizes = sizes * along.reshape(view)
    return sizes


def expand(block_mask, shape, block):
    """The element mask of a block mask (partial blocks cut at the edges)."""
    block_mask = np.asarray(block_mask, dtype=bool)
    out = block_mask
    for axis, b in enumerate(effective_block(shape, block)):
        out = np.repeat(out, b, axis=axis)
    return out[tuple(slice(0, n) for n in shape)]


def prune(weights, block, sparsity, score="avg", keep=None):
    """Remove the lowest-scoring blocks until ``sparsity`` of the weights is gone.

    Parameters
    ----------
    weights : float array, FC ``(N_out, N_in)`` or conv ``(N_fout, N_fin, K_y, K_x)``
    block : tuple, one extent per dimension
    sparsity : float in [0, 1]; below 1 the highest-scoring block is always kept,
        however far that leaves the result from the target (a small layer of few
        blocks); only 1 removes every block
    score : "max" or "avg"
    keep : bool array of the block grid, optional
        Blocks that may still be kept; blocks outside it are removed first
        (the previous step of an iterative schedule).

    Returns
    -------
    (element mask, block mask): bool arrays, True where the weight survives.
    """
    w = np.asarray(weights, dtype=np.float64)
    block = check_block(w.shape, block)
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], not {sparsity!r}")
    scores = block_scores(w, block, score)
    sizes = block_sizes(w.shape, block).reshape(-1)
    flat = scores.reshape(-1).copy()
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != scores.shape:
            raise ValueError(f"keep must have the block grid's shape {scores.shape}, "
                             f"not {keep.shape}")
        flat[~keep.reshape(-1)] = -np.inf
    order = np.argsort(flat, kind="stable")
    target = sparsity * w.size
    removed = np.concatenate([[0], np.cumsum(sizes[order])])
    n_remove = int(np.argmin(np.abs(removed - target)))
    if sparsity < 1:
        n_remove = min(n_remove, flat.size - 1)   # never the whole layer unless asked
    if keep is not None:
        n_remove = max(n_remove, int((~keep).sum()))
    block_mask = np.ones(flat.size, dtype=bool)
    block_mask[order[:n_remove]] = False
    block_mask = block_mask.reshape(scores.shape)
    return expand(block_mask, w.shape, block), block_mask


def iterative_prune(weights, block, sparsity, *, steps=3, score="avg", retrain=None):
    """prune → retrain(weights, mask) → prune … up to ``sparsity`` in ``steps``
    equal increments; a block once removed stays removed.

    ``retrain(weights, mask)`` returns new weights (it should keep the masked
    weights at zero; they are zeroed again anyway).  Returns ``(weights, mask,
    block_mask)``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps!r}")
    w = np.asarray(weights, dtype=np.float64).copy()
    block = check_block(w.shape, block)
    keep = None
    for step in range(1, steps + 1):
        mask, keep = prune(w, block, sparsity * step / steps, score, keep)
        w = w * mask
        if retrain is not None:
            w = np.asarray(retrain(w, mask), dtype=np.float64) * mask
    return w, mask, keep


def align_block(block, tn):
    """Round the output extent of ``block`` up to a multiple of ``tn``, so that every
    group of ``tn`` outputs lies inside one block row and their union is exact."""
    block = tuple(int(b) for b in block)
    b0 = -(-block[0] // tn) * tn
    return (b0,) + block[1:]


def group_union(mask, tn):
    """The shared synapse bitmaps: for each group of ``tn`` outputs (rows of the
    2-D view ``(N_out, rest)``), the union of their masks.  ``(groups, rest)``."""
    mask = np.asarray(mask, dtype=bool)
    flat = mask.reshape(mask.shape[0], -1)
    groups = -(-flat.shape[0] // tn)
    padded = np.zeros((groups * tn, flat.shape[1]), dtype=bool)
    padded[:flat.shape[0]] = flat
    return padded.reshape(groups, tn, -1).any(axis=1)


def sparsity(mask):
    """Fraction of removed weights."""
    mask = np.asarray(mask, dtype=bool)
    return 1.0 - mask.sum() / mask.size if mask.size else 0.0
