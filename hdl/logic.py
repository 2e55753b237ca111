"""Small combinational helpers shared by the components."""

import operator
from functools import reduce

__all__ = ["tree_reduce", "tree_or"]


def tree_reduce(op, items):
    """Combine ``items`` pairwise in a balanced tree (log depth, no deep nesting)."""
    items = list(items)
    if not items:
        raise ValueError("tree_reduce needs at least one item")
    while len(items) > 1:
        pairs = [op(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            pairs.append(items[-1])
        items = pairs
    return items[0]


def tree_or(items):
    return tree_reduce(operator.or_, items)


def sklansky_levels(width):
    """Per level, the ``(target, source)`` pairs of a Sklansky inclusive prefix sum
    over ``width`` elements: ``x[target] += x[source]`` (log2(width) levels)."""
    levels = []
    for lvl in range((width - 1).bit_length()):
        levels.append([(i, ((i >> lvl) << lvl) - 1)
                       for i in range(width) if (i >> lvl) & 1])
    return levels


def apply_levels(values, levels, width):
    """Apply prefix levels to a list of Amaranth values, truncating sums to ``width`` bits."""
    values = list(values)
    for level in levels:
        new = list(values)
        for t, s in level:
            new[t] = (values[t] + values[s])[:width]
        values = new
    return values


def route_by_rank(present, rank, beat, lanes, fields):
    """Compaction: position ``p`` (with ``present[p]``) goes to lane ``rank[p] % lanes``
    of beat ``rank[p] // lanes`` (``lanes`` a power of two).

    Returns ``(lane_valid, lane_fields)``: per lane a 1-bit value, and per field
    the per-lane value of the routed position (0 where the lane is empty).  An
    AND-OR one-hot mux: ``len(present) * lanes`` selects, log-depth OR trees.
    """
    from amaranth.hdl import Mux
    lg = (lanes - 1).bit_length()
    match = [present[p] & ((rank[p] >> lg) == beat) for p in range(len(present))]
    lane_valid, lane_fields = [], [[] for _ in fields]
    for k in range(lanes):
        sel = [match[p] & ((rank[p] & (lanes - 1)) == k) for p in range(len(present))]
        lane_valid.append(tree_or(sel))
        for f, values in enumerate(fields):
            lane_fields[f].append(tree_or(Mux(sel[p], values[p], 0) for p in range(len(present))))
    return lane_valid, lane_fields
