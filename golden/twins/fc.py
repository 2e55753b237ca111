"""Golden sparse fully-connected computation, built from the per-module golden
functions (Encoder → NSM → SSM → PEFU), for one group of ``tn`` outputs that
share a synapse bitmap (docs/architecture.md §2)."""

import numpy as np

from golden.contract.bitmap import as_bitmap
from golden.twins import encoder, nsm, pefu, ssm

__all__ = ["shared_synapse_bitmap", "compress_group", "group_outputs", "window_cycles",
           "sequencer_cycles", "sparse_fc_group"]


def shared_synapse_bitmap(weights):
    """The union of the nonzero positions of a group of weight rows ``(tn, n_in)``."""
    return (np.asarray(weights) != 0).any(axis=0)


def compress_group(weights, synapse_bitmap=None):
    """Per row, the weights at every set position of the shared bitmap (explicit
    zeros where that row's own weight was pruned): ``(tn, popcount)`` int16."""
    weights = np.asarray(weights)
    sbm = shared_synapse_bitmap(weights) if synapse_bitmap is None else \
        as_bitmap(synapse_bitmap, "synapse_bitmap")
    if weights[:, ~sbm].any():
        raise ValueError("a nonzero weight lies outside the shared synapse bitmap")
    return weights[:, sbm].astype(np.int16), sbm


def group_outputs(nonzeros, neuron_bitmap, synapse_bitmap, comp_weights, bias, shift,
                  activation="identity", tm=16, window=None, stats=None, fed=None,
                  windows=None):
    """The ``tn`` outputs of one group from its compressed operands, the hardware's way:
    NSM beats over the bitmaps, per PE the SSM's picks out of its compressed
    weights ``comp_weights[j]`` (one per set bit of the synapse bitmap), the PEFU.

    ``stats`` (a dict), if given, accumulates ``ideal`` (NSM cycles,
    ``sum ceil(pairs / tm)`` per window), ``beats`` and ``steps`` (SSM steps).
    ``windows`` (a list), if given, receives the group: per NSM window the SSM
    steps of each of its beats (:func:`sequencer_cycles` times a run of groups;
    :mod:`golden.perf.perfmodel` uses it).

    ``fed``: the windows the compute unit feeds to the NSM
    (:func:`golden.contract.sib.fed_windows`; default all of them).  The NSM sees only
    those, as one tile; the others must hold no synapse.
    """
    comp_weights = np.asarray(comp_weights)
    nz = np.asarray(nonzeros)
    if fed is not None:
        W = window or 16 * tm
        nbw = as_bitmap(neuron_bitmap, "neuron_bitmap").reshape(-1, W)
        sbw = as_bitmap(synapse_bitmap, "synapse_bitmap").reshape(-1, W)
        if np.delete(sbw, fed, axis=0).any():
            raise ValueError("a window holding synapses is not fed to the NSM")
        starts = np.concatenate([[0], np.cumsum(nbw.sum(axis=1))])
        nz = np.concatenate([nz[starts[w]:starts[w + 1]] for w in fed])
        neuron_bitmap, synapse_bitmap = nbw[fed].reshape(-1), sbw[fed].reshape(-1)
    tn = comp_weights.shape[0]
    nb, ws, last = [], [[] for _ in range(tn)], []
    beats = nsm.beats(neuron_bitmap, synapse_bitmap, tm, window)
    for pairs, is_last in beats:
        lane_n = np.zeros(tm, dtype=np.int64)
        lane_w = np.zeros((tn, tm), dtype=np.int64)
        if pairs:
            n_idx, s_idx = zip(*pairs)
            lane_n[:len(pairs)] = nz[list(n_idx)]
            for j in range(tn):
                lane_w[j, :len(pairs)] = ssm.select(comp_weights[j], s_idx)
        nb.append(lane_n)
        for j in range(tn):
            ws[j].append(lane_w[j])
        last.append(is_last)
    steps = None
    if stats is not None or windows is not None:
        steps = [len(b) for b in ssm.tile_steps([[s for _, s in pairs] for pairs, _ in beats], tm)]
    if stats is not None:
        stats["ideal"] = stats.get("ideal", 0) + len(nsm.select(neuron_bitmap, synapse_bitmap,
                                                                tm, window))
        stats["beats"] = stats.get("beats", 0) + len(beats)
        stats["windows"] = stats.get("windows", 0) + len(neuron_bitmap) // (window or 16 * tm)
        stats["steps"] = stats.get("steps", 0) + sum(steps)
    if windows is not None:
        # per window its beats' steps (an empty last window: the closing beat's)
        per_window = [-(-len(p) // tm) for p in nsm.window_pairs(neuron_bitmap, synapse_bitmap,
                                                                  window or 16 * tm)]
        per_window[-1] = max(per_window[-1], 1)
        bounds = np.cumsum([0] + per_window)
        windows.append([steps[a:b] for a, b in zip(bounds, bounds[1:])])
    bias = np.broadcast_to(np.asarray(bias), (tn,))
    return np.array([pefu.pefu(nb, ws[j], last, int(bias[j]), shift, activation)[0]
                     for j in range(tn)], dtype=np.int16)


def window_cycles(group):
    """The datapath's cycles for one group alone (:func:`sequencer_cycles` of it)."""
    return sequencer_cycles([group])[0]


def sequencer_cycles(groups):
    """Per group, the cycles from the SSM sequencer's last step of the group
    before (for the first: from its first window in the NSM's drain stage, less
    the three stages to the sequencer) to its own last step.

    ``groups``: the groups one COMPUTE feeds, in order; a group is its NSM
    windows, a window the SSM steps of each of its beats (none: an empty window;
    a group's empty last window holds its closing beat, one step).

    The RTL's pipeline from the NSM's drain stage to the sequencer, cycle by
    cycle (hdl.datapath.nsm, hdl.datapath.ssm): the drain stage hands on a beat
    a cycle, or takes a cycle for an empty window, into stages e1 and e2; e2
    passes beats into the NSM's output skid buffer (whose ``ready`` is a
    register: the skid register is empty) and drops empty windows; the
    sequencer takes a beat when it has done the last step of the one before,
    a step a cycle.  The windows are taken to be waiting in the prefix stages
    (the compute unit feeds them ahead) and the steps' consumers always ready.
    """
    slots = []          # per drain cycle: None (an empty window) or (steps, group ended)
    for g, group in enumerate(groups):
        for w, beats in enumerate(group):
            if not beats:
                slots.append(None)
            for b, n in enumerate(beats):
                slots.append((n, g if w == len(group) - 1 and b == len(beats) - 1 else None))
    ends = []
    nxt = 0
    e1 = e2 = None                # (True, slot); None: the register is empty
    out = skid = None             # a beat's slot (the skid buffer's two registers)
    beat, left = None, 0          # the sequencer's beat, steps left after this one
    cycle = 0
    while nxt < len(slots) or e1 or e2 or out or skid or beat:
        done = beat is not None and left == 0
        if done and beat[1] is not None:
            ends.append(cycle)
        take = beat is None or done                       # the sequencer's i.ready
        e2_go = e2 is not None and (e2[1] is None or skid is None)
        e2_free = e2 is None or e2_go
        e1_free = e1 is None or e2_free
        drain = nxt < len(slots) and e1_free
        push = e2[1] if e2_go else None                   # a beat into the skid buffer
        if take:
            beat, left = out, (out[0] - 1 if out else 0)
        else:
            left -= 1
        if out is None or take:                           # the skid's output register frees
            out, skid = (skid, None) if skid else (push, None)
        elif push:                                        # the beat skids
            skid = push
        if e2_free:
            e2 = e1
        if e1_free:
            e1 = (True, slots[nxt]) if drain else None
            nxt += drain
        cycle += 1
    return [b - a for a, b in zip([3] + ends, ends)]


def sparse_fc_group(neurons, weights, bias, shift, activation="identity", tm=16,
                    synapse_bitmap=None, window=None):
    """Outputs of ``tn`` PEs for one input vector, computed the way the hardware does.

    ``neurons`` int16 ``(n_in,)``, ``weights`` int16 ``(tn, n_in)`` (zeros where
    pruned), ``bias`` int ``(tn,)`` at ``f_in + f_w``, ``shift``/``activation`` per
    layer.  Returns int16 ``(tn,)``.
    """
    comp_w, sbm = compress_group(np.asarray(weights), synapse_bitmap)
    nz, nbm = encoder.encode(np.asarray(neurons))
    return group_outputs(nz, nbm, sbm, comp_w, bias, shift, activation, tm, window)
