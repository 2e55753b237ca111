"""Random, seeded workloads shared by the Amaranth-simulation tests and the
cocotb testbenches, so both drive the hardware with the same kind of data."""

import numpy as np

from golden.fixed import ACTIVATIONS, activation_code
from golden.pefu import pefu as golden_pefu

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
    for _ in range(n_outputs):
        cls = names[rng.integers(len(names))]
        bound, (lo, hi) = _CLASSES[cls]
        n_beats = int(rng.integers(1, max_beats + 1))
        for b in range(n_beats):
            if bound is None:
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
        shift.append(s)
        b_bound = 1 << min(31, s + 8)
        bias.append(int(rng.integers(-b_bound, b_bound)))
        activation.append(ACTIVATIONS[rng.integers(len(ACTIVATIONS))])
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
