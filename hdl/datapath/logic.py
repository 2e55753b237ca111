"""Small combinational helpers shared by the components."""

import operator

__all__ = ["tree_reduce", "tree_or", "sklansky_levels", "apply_levels",
           "lane_onehots", "onehot_select"]


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


def apply_levels(values, levels, width=None):
    """Apply prefix levels to a list of Amaranth values; sums grow as needed
    (truncated to ``width`` bits if given)."""
    values = list(values)
    for level in levels:
        new = list(values)
        for t, s in level:
            total = values[t] + values[s]
            new[t] = total[:width] if width is not None else total
        values = new
    return values


def lane_onehots(m, present, rank, beat, lanes, name="hot"):
    """Per position ``p``, the one-hot lane (``lanes`` bits) it goes to in beat
    ``beat``: lane ``rank[p] % lanes`` when ``present[p]`` and ``rank[p] // lanes
    == beat``, else 0.  Each a signal of its own, so users share it."""
    from amaranth.hdl import Const, Signal
    lg = (lanes - 1).bit_length()
    vec = []
    for p in range(len(present)):
        v = Signal(lanes, name=f"{name}{p}")
        hit = present[p] & ((rank[p] >> lg) == beat)
        with m.If(hit):
            m.d.comb += v.eq(Const(1, lanes) << rank[p][:max(lg, 1)] if lanes > 1 else 1)
        vec.append(v)
    return vec


def onehot_select(hot, entries, lane):
    """The OR over positions ``p`` of ``entries[p]`` where ``hot[p][lane]`` is set:
    the entry of the one position on ``lane`` (0 if none).  AND-OR, log4 depth."""
    width = max(len(e) for e in entries)
    return tree_or(hot[p][lane].replicate(width) & entries[p] for p in range(len(entries)))
