"""Golden sparse fully-connected computation, built from the per-module golden
functions (Encoder → NSM → SSM → PEFU), for one group of ``tn`` outputs that
share a synapse bitmap (docs/architecture.md §2)."""

import numpy as np

from golden.contract.bitmap import as_bitmap
from golden.twins import encoder, nsm, pefu, ssm

__all__ = ["shared_synapse_bitmap", "compress_group", "group_outputs", "window_cycles",
           "sparse_fc_group"]


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
                  activation="identity", tm=16, window=None, stats=None, fed=None):
    """The ``tn`` outputs of one group from its compressed operands, the hardware's way:
    NSM beats over the bitmaps, per PE the SSM's picks out of its compressed
    weights ``comp_weights[j]`` (one per set bit of the synapse bitmap), the PEFU.

    ``stats`` (a dict), if given, accumulates ``ideal`` (NSM cycles,
    ``sum ceil(pairs / tm)`` per window), ``beats``, ``steps`` (SSM steps) and
    ``window_cycles`` (per window ``max(1, its beats' SSM steps)``: the datapath's
    cycles, which :mod:`golden.perf.perfmodel` uses).

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
    if stats is not None:
        stats["ideal"] = stats.get("ideal", 0) + len(nsm.select(neuron_bitmap, synapse_bitmap,
                                                                tm, window))
        stats["beats"] = stats.get("beats", 0) + len(beats)
        stats["windows"] = stats.get("windows", 0) + len(neuron_bitmap) // (window or 16 * tm)
        steps = [len(b) for b in ssm.tile_steps([[s for _, s in pairs] for pairs, _ in beats], tm)]
        stats["steps"] = stats.get("steps", 0) + sum(steps)
        per_window = [-(-len(p) // tm) for p in nsm.window_pairs(neuron_bitmap, synapse_bitmap,
                                                                  window or 16 * tm)]
        owner = [w for w, n in enumerate(per_window) for _ in range(n)]
        owner += [len(per_window) - 1] * (len(steps) - len(owner))   # the closing empty beat
        cost = [0] * len(per_window)
        for w, n in zip(owner, steps):
            cost[w] += n
        stats["window_cycles"] = stats.get("window_cycles", 0) + window_cycles(per_window, cost)
    bias = np.broadcast_to(np.asarray(bias), (tn,))
    return np.array([pefu.pefu(nb, ws[j], last, int(bias[j]), shift, activation)[0]
                     for j in range(tn)], dtype=np.int16)


def window_cycles(beats, steps):
    """The datapath's cycles for a group's NSM windows, ``beats`` (NSM beats) and
    ``steps`` (SSM steps) per window: a window takes a cycle per SSM step of its
    beats, and an empty one a cycle of the NSM's drain stage, unless the
    sequencer is still working off steps beyond the beats of the windows before
    it (its backlog: the drain stage runs ahead meanwhile)."""
    backlog = total = 0
    for b, c in zip(beats, steps):
        if c:
            backlog += c - b
            total += c
        elif backlog:
            backlog -= 1
        else:
            total += 1
    return total


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
