"""Random, seeded workloads shared by the Amaranth-simulation tests and the
cocotb testbenches, so both drive the hardware with the same kind of data."""

import numpy as np

from golden.contract.fixed import ACTIVATIONS, activation_code
from golden.twins.pefu import pefu as golden_pefu

__all__ = ["pefu_workload", "pefu_beats", "pefu_expected"]

# Value classes: (neuron/weight magnitude bound, shift range).  Small values with
# small shifts hit rounding ties; full-range and extreme values hit saturation
# and the accumulator's width.
_CLASSES = {
    "small":   (1 << 7, (0, 6)),
    "medium":  (1 << 11, (8, 20)),
    "full":    (1 << 15, (14, 31)),
    "extreme": (None, (18, 31)),
    "zero":    (0, (0, 31)),
}


def pefu_workload(rng, tm, n_outputs, max_beats=4, shift_width=5):
    """Beats for the PEFU: a dict of ``neurons``/``weights`` ``(beats, tm)`` int16,
    ``last`` ``(beats,)`` bool, and per output ``bias`` (int32), ``shift`` and
    ``activation`` (names).  ``rng`` is a :class:`numpy.random.Generator`."""
    neurons, weights, last = [], [], []
    bias, shift, activation = [], [], []
    max_shift = (1 << shift_width) - 1
    names = list(_CLASSES)
    for o in range(n_outputs):
        cls = names[rng.integers(len(names))]
        bound, (lo, hi) = _CLASSES[cls]
        n_beats = int(rng.integers(1, max_beats + 1))
        directed = o < 2   # directed corners first: saturation to +max, then to -max
        if directed:
            n_beats = max_beats
        for b in range(n_beats):
            if directed:
                n = np.full(tm, -32768)
                w = np.full(tm, -32768 if o == 0 else 32767)
            elif bound is None:
                n = rng.choice([-32768, 32767], size=tm)
                w = rng.choice([-32768, 32767], size=tm)
            elif bound == 0:
                n = np.zeros(tm, dtype=np.int64)
                w = rng.integers(-32768, 32768, size=tm)
            else:
                n = rng.integers(-bound, bound, size=tm)
                w = rng.integers(-bound, bound, size=tm)
            neurons.append(n)
            weights.append(w)
            last.append(b == n_beats - 1)
        s = int(rng.integers(min(lo, max_shift), min(hi, max_shift) + 1))
        b_bound = 1 << min(31, s + 8)
        b = int(rng.integers(-b_bound, b_bound))
        act = ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
        if directed:   # products of about +-2**30 over 4 beats: past int16 at any shift <= 17
            s, b, act = min(17, max_shift), 0, "identity"
        shift.append(s)
        bias.append(b)
        activation.append(act)
    return {
        "neurons": np.array(neurons, dtype=np.int16).reshape(-1, tm),
        "weights": np.array(weights, dtype=np.int16).reshape(-1, tm),
        "last": np.array(last, dtype=bool),
        "bias": np.array(bias, dtype=np.int64),
        "shift": np.array(shift, dtype=np.int64),
        "activation": activation,
    }


def pefu_beats(work):
    """The workload as PEFU input payloads (bias/shift/activation on every beat of
    an output; the PEFU reads them on the ``last`` beat)."""
    out_index = np.cumsum(work["last"]) - work["last"]  # the output each beat belongs to
    beats = []
    for k in range(len(work["last"])):
        o = int(out_index[k])
        beats.append({
            "neuron": [int(x) for x in work["neurons"][k]],
            "weight": [int(x) for x in work["weights"][k]],
            "last": int(work["last"][k]),
            "bias": int(work["bias"][o]),
            "shift": int(work["shift"][o]),
            "activation": activation_code(work["activation"][o]),
        })
    return beats


def pefu_expected(work):
    """What the golden PEFU emits for the workload (int16, one per output)."""
    return golden_pefu(work["neurons"], work["weights"], work["last"],
                       work["bias"], work["shift"], work["activation"])


def random_bitmap(rng, n, density=None):
    """A bool bitmap of ``n`` positions; ``density`` drawn at random when not given,
    with all-zero and all-one bitmaps among the draws."""
    if density is None:
        density = rng.choice([0.0, 1.0, rng.random(), rng.random() * 0.2, 1 - rng.random() * 0.2])
    return rng.random(n) < density


def nsm_workload(rng, tm, window, n_tiles, max_windows=4):
    """Tiles for the NSM: per tile a neuron bitmap, a synapse bitmap (whole windows)
    and the compressed neuron values."""
    tiles = []
    for t in range(n_tiles):
        n = window * int(rng.integers(1, max_windows + 1))
        nb, sb = random_bitmap(rng, n), random_bitmap(rng, n)
        if t == 0:   # a directed corner: the first window is full (Tm-wide beats back to back)
            nb[:window] = sb[:window] = True
        values = rng.integers(-32768, 32768, size=int(nb.sum()))
        values[values == 0] = 1
        tiles.append({"nb": nb, "sb": sb, "neurons": values})
    return tiles


def _bits_to_int(bits):
    return sum(1 << i for i, b in enumerate(bits) if b)


def nsm_inputs(tiles, window):
    """The NSM's two input streams for ``tiles``: window payloads and neuron payloads."""
    windows, neurons = [], []
    for tile in tiles:
        nb, sb, values = tile["nb"], tile["sb"], tile["neurons"]
        n_windows = nb.size // window
        base = 0
        for w in range(n_windows):
            sl = slice(w * window, (w + 1) * window)
            windows.append({"neuron_bitmap": _bits_to_int(nb[sl]),
                            "synapse_bitmap": _bits_to_int(sb[sl]),
                            "last": int(w == n_windows - 1)})
            count = int(nb[sl].sum())
            vals = [int(v) for v in values[base:base + count]] + [0] * (window - count)
            neurons.append({"value": vals})
            base += count
    return windows, neurons


def nsm_expected(tiles, tm, window):
    """The NSM's output beats per golden.twins.nsm.beats, as dicts of the hardware fields."""
    from golden.twins.nsm import beats
    out = []
    for tile in tiles:
        for pairs, last in beats(tile["nb"], tile["sb"], tm, window):
            lanes = list(pairs) + [(None, None)] * (tm - len(pairs))
            out.append({
                "valid": sum(1 << k for k in range(len(pairs))),
                "neuron": [int(tile["neurons"][n]) if n is not None else 0 for n, _ in lanes],
                "neuron_index": [n or 0 for n, _ in lanes],
                "synapse_index": [s or 0 for _, s in lanes],
                "last": int(last),
            })
    return out


def encoder_workload(rng, tn, window, n_vectors, max_windows=4):
    """Output-neuron vectors for the Encoder: random lengths (not always whole
    windows), densities from all-zero to all-nonzero."""
    vectors = []
    for _ in range(n_vectors):
        n = int(rng.integers(1, window * max_windows + 1))
        values = rng.integers(-32768, 32768, size=n)
        values[values == 0] = 1
        values[~random_bitmap(rng, n)] = 0
        vectors.append(values)
    return vectors


def encoder_inputs(vectors, window):
    out = []
    for values in vectors:
        n_windows = max(1, -(-len(values) // window))
        for w in range(n_windows):
            part = [int(v) for v in values[w * window:(w + 1) * window]]
            out.append({"value": part + [0] * (window - len(part)),
                        "last": int(w == n_windows - 1)})
    return out


def encoder_expected(vectors, tn, window):
    from golden.twins.encoder import beats
    out = []
    for values in vectors:
        for nz, bm, first, end, last in beats(values, tn, window):
            vals = [int(v) for v in nz]
            out.append({"valid": (1 << len(vals)) - 1,
                        "value": vals + [0] * (tn - len(vals)),
                        "bitmap": _bits_to_int(bm), "first": int(first), "end": int(end),
                        "last": int(last)})
    return out


def wdm_workload(rng, tm, n_beats, widths=(4, 8, 16)):
    """A LUT (256 int16 entries) and beats for the WDM alone: per beat a slot
    width drawn from ``widths``, ``tm`` codes of that width and the beat's lanes
    (a random prefix of the ``tm`` lanes; the codes past it are 0, as the SSM
    hands them)."""
    lut = rng.integers(-32768, 32768, size=256)
    beats = []
    for _ in range(n_beats):
        slot = int(rng.choice(widths))
        n = int(rng.integers(0, tm + 1))
        codes = [int(c) for c in rng.integers(0, 1 << slot, size=n)] + [0] * (tm - n)
        beats.append({"slot": slot, "code": codes, "valid": (1 << n) - 1})
    return lut, beats


def wdm_expected(lut, beats):
    """Per beat the ``tm`` weights: golden.twins.wdm.lookup of the beat's lanes, 0 past them."""
    from golden.twins.wdm import lookup
    out = []
    for beat in beats:
        n = beat["valid"].bit_length()
        weights = [int(w) for w in lookup(beat["code"][:n], lut, beat["slot"])]
        out.append(weights + [0] * (len(beat["code"]) - n))
    return out


def slice_workload(rng, tn, tm, window, n_tiles, sb_depth, widths=(4, 8, 16),
                   max_windows=3):
    """Sparse FC tiles for the composed slice: per PE a 256-entry LUT (entry 0 is
    0, so an output can hold an explicit zero inside the shared bitmap), and per
    tile a neuron vector, a shared synapse bitmap, per-PE weights, their packed
    SB words at a fresh SB base, biases, shift and activation."""
    from golden.contract.packing import pack, slots_per_word
    luts = rng.integers(-2000, 2000, size=(tn, 256))
    luts[:, 0] = 0
    tiles, sb_next = [], 0
    for _ in range(n_tiles):
        n_in = int(rng.integers(1, window * max_windows + 1))
        n_pad = -(-n_in // window) * window
        neurons = rng.integers(-2000, 2000, size=n_in)
        neurons[~random_bitmap(rng, n_in)] = 0
        sbm = random_bitmap(rng, n_in)
        slot = int(rng.choice(widths))
        n_syn = int(sbm.sum())
        if slot == 16:
            comp = rng.integers(-2000, 2000, size=(tn, n_syn))
            comp[rng.random((tn, n_syn)) < 0.2] = 0
            codes = comp
        else:
            codes = rng.integers(0, 1 << slot, size=(tn, n_syn))
            codes[rng.random((tn, n_syn)) < 0.2] = 0
            comp = np.take_along_axis(luts, codes, axis=1)
        weights = np.zeros((tn, n_in), dtype=np.int64)
        weights[:, sbm] = comp
        n_words = max(1, -(-n_syn // slots_per_word(slot, tm)))
        if sb_next + n_words > sb_depth:
            raise ValueError("slice workload does not fit the SB; raise sb_depth")
        words = [pack(codes[j], slot, tm) or [0] for j in range(tn)]
        nb_pad = np.zeros(n_pad, dtype=bool)
        nb_pad[:n_in] = neurons != 0
        sb_pad = np.zeros(n_pad, dtype=bool)
        sb_pad[:n_in] = sbm
        tiles.append({
            "neurons_dense": neurons, "weights": weights, "sbm": sbm, "slot": slot,
            "sb_base": sb_next, "words": words,
            "bias": rng.integers(-5000, 5000, size=tn),
            "shift": int(rng.integers(0, 12)),
            "activation": ("identity", "relu")[int(rng.integers(2))],
            "nsm": {"nb": nb_pad, "sb": sb_pad, "neurons": neurons[neurons != 0]},
        })
        sb_next += n_words
    return luts, tiles


def slice_inputs(luts, tiles, window):
    """Everything the slice's ports take: SB and LUT writes, NSM windows and
    neurons, tile configs and biases."""
    from golden.contract.fixed import activation_code
    from golden.contract.isa import Slot
    sb_writes = [{"pe": j, "addr": t["sb_base"] + a, "data": w}
                 for t in tiles for j in range(len(t["words"]))
                 for a, w in enumerate(t["words"][j])]
    lut_writes = [{"pe": j, "addr": a, "value": int(v)}
                  for j in range(luts.shape[0]) for a, v in enumerate(luts[j])]
    windows, neurons = nsm_inputs([t["nsm"] for t in tiles], window)
    tile_cfg = [{"sb_base": t["sb_base"], "slot": Slot.of(t["slot"]).value} for t in tiles]
    biases = [{"bias": [int(b) for b in t["bias"]], "shift": t["shift"],
               "activation": activation_code(t["activation"])} for t in tiles]
    return {"sb_write": sb_writes, "lut": lut_writes, "i": windows, "neurons": neurons,
            "tile": tile_cfg, "bias": biases}


def slice_expected(tiles, tm, window):
    """Per tile the ``tn`` outputs of golden.twins.fc.sparse_fc_group."""
    from golden.twins.fc import sparse_fc_group
    return [[int(v) for v in sparse_fc_group(t["neurons_dense"], t["weights"], t["bias"],
                                             t["shift"], t["activation"], tm=tm,
                                             synapse_bitmap=t["sbm"], window=window)]
            for t in tiles]


def ssm_workload(rng, tm, n_beats, widths=(4, 8, 16), slot=None):
    """For the per-PE SSM alone: a PE's slot codes (indices below ``2**slot``,
    int16 weights for 16-bit slots, as golden.contract.packing.pack takes them), a
    slot width (drawn from ``widths`` unless given), and beats of increasing
    synapse indices (with neurons) ending in ``last``, each naming a WDM table."""
    if slot is None:
        slot = int(rng.choice(widths))
    elif slot not in widths:
        raise ValueError(f"slot must be one of {', '.join(map(str, widths))}, not {slot!r}")
    # Indices increase through the tile (the NSM's order); once the codes run
    # out the remaining beats are empty.
    n_syn = int(rng.integers(tm + n_beats * tm // 2, 8 * tm * max(n_beats, 1) + 2 * tm))
    codes = (rng.integers(-32768, 32768, size=n_syn) if slot == 16 else
             rng.integers(0, 1 << slot, size=n_syn))
    beats, start = [], 0
    for b in range(n_beats):
        n = int(rng.integers(0, tm + 1))
        span = int(rng.integers(n, 12 * tm + 1))
        pool = np.arange(start, min(n_syn, start + span + 1))
        idx = sorted(rng.choice(pool, size=min(n, pool.size), replace=False).tolist())
        start = idx[-1] + 1 if idx else start
        beats.append({"index": idx, "neuron": rng.integers(-32768, 32768, size=tm).tolist(),
                      "last": b == n_beats - 1, "table": b % 2})   # (the WDM's, passed on)
    return codes, slot, beats


def ssm_inputs(codes, slot, beats, tm):
    """The per-PE SSM's input: one payload per golden step (golden.twins.ssm.tile_steps;
    the beats are one tile), the packed SB word of the window read
    (golden.contract.packing, zero past the codes) and the step fields."""
    from golden.contract.isa import Slot
    from golden.contract.packing import pack, slots_per_word
    from golden.twins.ssm import tile_steps
    per_word = slots_per_word(slot, tm)
    wpw = per_word // (4 * tm)
    out = []
    for beat, beat_steps in zip(beats, tile_steps([b["index"] for b in beats], tm)):
        idx = beat["index"]
        valid = (1 << len(idx)) - 1
        for n, (win, lanes, held) in enumerate(beat_steps):
            word = win // wpw
            packed = pack(codes[word * per_word:(word + 1) * per_word], slot, tm)
            final = n == len(beat_steps) - 1
            offsets = [int(s) % (4 * tm) for s in idx] + [0] * (tm - len(idx))
            out.append({"word": packed[0] if packed else 0, "side": {
                "sb_addr": word, "slot": Slot.of(slot).value, "table": beat["table"],
                "window_in_word": win % wpw,
                "valid": valid, "mask": sum(1 << k for k in lanes),
                "mask_held": sum(1 << k for k in held),
                "offset": offsets, "neuron": beat["neuron"], "final": int(final),
                "last": int(final and beat["last"])}})
    return out


def ssm_expected(codes, slot, beats, tm):
    """Per beat the SSM's output: golden.twins.ssm.select of the codes (as the
    unsigned ``slot``-bit fields of the SB word), 0 past the beat; the beat's WDM
    table passed through."""
    from golden.contract.isa import Slot
    from golden.twins.ssm import select
    out = []
    for beat in beats:
        c = [int(v) & ((1 << slot) - 1) for v in select(codes, beat["index"])]
        out.append({"neuron": beat["neuron"], "code": c + [0] * (tm - len(c)),
                    "valid": (1 << len(c)) - 1, "slot": Slot.of(slot).value,
                    "table": beat["table"], "last": int(beat["last"])})
    return out


# --- functional coverage bins of the workloads (tb.sim.coverage) ----------------------

def _window_ands(tile, window):
    both = tile["nb"] & tile["sb"]
    return [int(both[w:w + window].sum()) for w in range(0, both.size, window)]


def nsm_coverage(tiles, tm, window, expected):
    bins = {"empty window": 0, "full window": 0, "tile ends in an empty window": 0,
            "full beat": 0}
    for tile in tiles:
        counts = _window_ands(tile, window)
        bins["empty window"] += sum(c == 0 for c in counts)
        bins["full window"] += sum(c == window for c in counts)
        bins["tile ends in an empty window"] += counts[-1] == 0
    bins["full beat"] = sum(b["valid"] == (1 << tm) - 1 for b in expected)
    return bins


def encoder_coverage(vectors, tn, window):
    bins = {"all-zero window": 0, "full window": 0, "multi-beat window": 0}
    for values in vectors:
        for w in range(0, max(1, len(values)), window):
            nz = int(np.count_nonzero(values[w:w + window]))
            bins["all-zero window"] += nz == 0
            bins["full window"] += nz == window
            bins["multi-beat window"] += nz > tn
    return bins


def slot_coverage(slots):
    bins = {"slot 4": 0, "slot 8": 0, "slot 16": 0}
    for s in slots:
        bins[f"slot {s}"] += 1
    return bins


def saturation_coverage(values):
    values = np.asarray(values).ravel()
    return {"saturate +": int((values == 32767).sum()),
            "saturate -": int((values == -32768).sum())}


def pefu_coverage(work, expected):
    expected = np.asarray(expected)
    ends = np.flatnonzero(work["last"])
    beats_per_output = np.diff(np.concatenate([[-1], ends]))
    relu = np.array([a == "relu" for a in work["activation"]])
    return {**saturation_coverage(expected),
            "relu clamp": int(((expected == 0) & relu).sum()),
            "multi-beat output": int((beats_per_output > 1).sum())}


def ssm_coverage(slot, beats, tm):
    bins = slot_coverage([slot] * len(beats))
    bins["empty beat"] = sum(len(b["index"]) == 0 for b in beats)
    bins["beat over several windows"] = sum(
        len({i // (4 * tm) for i in b["index"]}) > 1 for b in beats)
    return bins


def slice_coverage(tiles, window, expected):
    bins = slot_coverage([t["slot"] for t in tiles])
    bins["empty window"] = sum(c == 0 for t in tiles for c in _window_ands(t["nsm"], window))
    bins.update(saturation_coverage(expected))
    return bins
