"""Compiler stage 5, **schedule**: the instruction order the in-order controller
runs fastest.

The emitter writes each layer's instructions in the order of its loop nest
(:mod:`.emit`); the controller issues them in that order, one unit's
instruction waiting for the one before it even when another unit could start
now.  Two orders the emitter writes leave a unit idle: a pass's STOREs, which
the store unit runs one after another, hold back the next chunk's weight LOADs
behind them; and the next pass's input LOADs wait behind the COMPUTE that
precedes them, for the compute unit, though the NBin half they write is free.

:func:`schedule` reorders by list scheduling on the performance model's
durations (:func:`golden.perf.perfmodel.duration`): each step takes, among the
first instruction left of each unit that no earlier instruction left conflicts
with (the scoreboard's rule, :func:`golden.contract.isa.accesses` — so every
buffer half and every fenced LOAD sees what it saw before, and the machine
computes the same), the one that can issue first, the earlier in program order
on a tie.  One unit's instructions keep their order; ``SYNC`` and ``END`` stay
where they are; an NBin or NIBin LOAD stays behind every STORE before it (an
input LOAD without ``fence`` reads what the STOREs before the latest one wrote,
done once that one issues: :meth:`.emit.Emitter.fence`).  The new order is kept
only if the exact model (:func:`golden.perf.perfmodel.predict`, which the RTL
matches cycle for cycle) gives it fewer cycles; ``par`` is marked afresh (:func:`.emit.mark_par`).
"""

import dataclasses

from golden.contract.isa import PAR_BIT, UNIT, Op, Target, conflict
from golden.contract.layout import MemoryImage

from .emit import mark_par
from .place import write_program

__all__ = ["schedule", "schedule_order"]

_INPUTS = (Target.NIB, Target.NBIN)


def schedule_order(steps, cfg):
    """The issue order (indices into ``steps``, :func:`golden.perf.perfmodel.work`'s
    list) by list scheduling: see the module's text."""
    order, segment = [], []
    for s in steps:
        if s.op in UNIT:
            segment.append(s)
            continue
        order += _list_schedule(segment, cfg)
        order.append(s.index)           # SYNC, NOP, END: a barrier, kept in place
        segment = []
    return order + _list_schedule(segment, cfg)


def _list_schedule(steps, cfg):
    from golden.perf import perfmodel as pm
    remaining = list(steps)
    left = {u: sum(s.unit == u for s in steps) for u in ("load", "store", "compute")}
    free_at = dict.fromkeys(left, 0)    # when the unit takes its next instruction
    running = dict.fromkeys(left)       # (end, step) of its last one
    older = None                        # (end, step) of the COMPUTE draining behind it
    last, order = 0, []
    while remaining:
        # The candidates: per unit its first instruction left, if none before it conflicts.
        cands, seen, reads, writes = [], set(), 0, 0
        stores = False
        wanted = sum(n > 0 for n in left.values())
        for k, s in enumerate(remaining):
            if s.unit not in seen:
                seen.add(s.unit)
                if not conflict(s.reads, s.writes, reads, writes) and not (
                        stores and s.op == Op.LOAD and s.fields.get("target") in _INPUTS):
                    cands.append(k)
                if len(seen) == wanted:
                    break
            reads, writes = reads | s.reads, writes | s.writes
            stores = stores or s.op == Op.STORE
        best = None
        for k in cands:
            t = max(last, pm.unit_ready(remaining[k], free_at, running, older))
            if best is None or t < best[0]:
                best = (t, k)
        t, k = best
        s = remaining.pop(k)
        left[s.unit] -= 1
        order.append(s.index)
        last = t
        if s.unit == "compute":
            prev_end = running["compute"][0] if running["compute"] else 0
            _, end, free_at["compute"], _ = pm.compute_span(s, cfg, t, prev_end)
            older = running["compute"] if prev_end > t else None
        else:
            end = t + 1 + pm.TIMING.dispatch_cycles(cfg.compact) + pm.duration(s, cfg)
            free_at[s.unit] = end
        running[s.unit] = (end, s)
    return order


def reorder(program, order, steps=None):
    """``program`` with its instructions in ``order`` (``par`` marked afresh, and in
    its memory image, where the controller fetches them), and, given its
    ``steps``, theirs in the new order."""
    cfg = program.cfg
    words = mark_par([program.words[i] & ~PAR_BIT for i in order])
    image = MemoryImage(program.image.width)
    image.update(program.image)
    image.next_free = program.image.next_free
    write_program(image, words, cfg, program.prog_addr)
    new = dataclasses.replace(program, words=words, image=image,
                              comments=[program.comments[i] for i in order])
    if steps is None:
        return new, None
    moved = [dataclasses.replace(steps[i], index=j,
                                 fields={**steps[i].fields, "par": int((w & PAR_BIT) != 0)})
             for j, (i, w) in enumerate(zip(order, words))]
    return new, moved


def schedule(program, memory=None, order=None):
    """``(program, report)``: ``program`` reordered by :func:`schedule_order` if the
    performance model (under ``memory``, its default if None) predicts fewer cycles
    for it, else as it was; ``report``: ``{"order", "cycles_emitted", "cycles",
    "moved"}`` (the issue order as indices into the emitted program, the model's
    cycles before and after, instructions not in their emitted place).

    ``order``: another compile's ``report["order"]`` (the same model and tilings on
    other inputs, whose emitted program is the same): that order, without the
    model, so the two programs differ only in their data."""
    n = len(program.words)
    if order is not None:
        order = [int(i) for i in order]
        if sorted(order) != list(range(n)):
            raise ValueError(f"order must be a permutation of the program's {n} "
                             f"instructions (another compile's program.schedule['order'] "
                             f"of the same model and tilings)")
        new, _ = reorder(program, order)
        return new, {"order": order, "cycles_emitted": None, "cycles": None,
                     "moved": sum(i != j for j, i in enumerate(order))}
    from golden.perf.perfmodel import predict, work
    steps = work(program)
    keep = {"order": list(range(n)), "moved": 0}
    if len(steps) != n:          # (words after END: left as they are)
        return program, {**keep, "cycles_emitted": None, "cycles": None}
    before = predict(program, memory, steps=steps)["cycles"]
    order = schedule_order(steps, program.cfg)
    new, moved_steps = reorder(program, order, steps)
    after = predict(new, memory, steps=moved_steps)["cycles"]
    if after >= before:
        return program, {**keep, "cycles_emitted": before, "cycles": before}
    return new, {"order": order, "cycles_emitted": before, "cycles": after,
                 "moved": sum(i != j for j, i in enumerate(order))}
