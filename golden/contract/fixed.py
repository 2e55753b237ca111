"""Fixed-point rules shared by the golden model and the hardware (docs/architecture.md §4).

Neurons are int16 with ``f_in``/``f_out`` fractional bits, decoded weights are
int16 with ``f_w`` fractional bits, products and their sums are exact, and the
bias is an int32 already at ``f_in + f_w``.  One function, :func:`output_stage`,
turns an exact accumulator into an int16 output neuron; every hardware test
compares against it, nobody re-derives it.
"""

import numpy as np

__all__ = [
    "INT16_MIN", "INT16_MAX", "INT32_MIN", "INT32_MAX", "MAX_SHIFT",
    "ACTIVATIONS", "NONLINEAR", "activation_code", "output_shift", "saturate_int16",
    "output_stage",
]

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

#: Largest output shift :func:`output_stage` accepts (int64 arithmetic stays exact).
MAX_SHIFT = 62

#: Activation names in hardware-code order: the index is the code the PEFU's
#: ``activation`` field carries.  ``sigmoid`` and ``tanh`` are the piecewise-linear
#: ones of :mod:`golden.contract.activation`, on int16 values with
#: :data:`golden.contract.activation.ACT_FRAC` fractional bits (a layer using them has
#: ``f_out = ACT_FRAC``).
ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh")
#: The activations that need the layer's output at ``ACT_FRAC`` fractional bits.
NONLINEAR = ("sigmoid", "tanh")

# |acc| below this bound keeps acc + bias + rounding inside int64.
_ACC_LIMIT = 1 << 62


def activation_code(activation):
    """The hardware code of an activation name (its index in :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS.index(activation)
    except ValueError:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, "
                         f"not {activation!r}") from None


def output_shift(f_in, f_w, f_out):
    """``s = f_in + f_w - f_out``, the right shift of the output stage; must be ≥ 0."""
    s = int(f_in) + int(f_w) - int(f_out)
    if s < 0:
        raise ValueError(f"f_out must be at most f_in + f_w = {f_in + f_w}, not {f_out}")
    return s


def saturate_int16(x):
    """Clamp an integer array to [-32768, 32767] and return it as int16."""
    return np.clip(np.asarray(x, dtype=np.int64), INT16_MIN, INT16_MAX).astype(np.int16)


def output_stage(acc, bias, shift, activation="identity"):
    """The output stage of docs/architecture.md §4, vectorized.

    ``y = sat_int16((acc + bias + (1 << (shift - 1))) >> shift)`` for ``shift > 0``
    (arithmetic shift: round half up, i.e. towards +inf on an exact half),
    ``y = sat_int16(acc + bias)`` for ``shift == 0``; then the activation.

    Parameters
    ----------
    acc : int array (converted to int64)
        Exact accumulator values at ``f_in + f_w`` fractional bits; ``|acc| < 2**62``.
    bias : int or int array
        Bias at ``f_in + f_w`` fractional bits, within int32; broadcast against ``acc``.
    shift : int
        ``f_in + f_w - f_out``, 0 ≤ shift ≤ :data:`MAX_SHIFT`.
    activation : str
        One of :data:`ACTIVATIONS`.

    Returns
    -------
    numpy.ndarray of int16, the shape of ``acc`` broadcast with ``bias``.
    """
    acc = np.asarray(acc)
    if acc.dtype.kind not in "iu":
        raise TypeError(f"acc must be an integer array, not {acc.dtype}")
    acc = acc.astype(np.int64)
    bias = np.asarray(bias)
    if bias.dtype.kind not in "iu":
        raise TypeError(f"bias must be an integer or integer array, not {bias.dtype}")
    if bias.size and (bias.min() < INT32_MIN or bias.max() > INT32_MAX):
        raise ValueError("bias must be within int32 [-2**31, 2**31 - 1]")
    bias = bias.astype(np.int64)
    if isinstance(shift, (bool, np.bool_)) or not isinstance(shift, (int, np.integer)):
        raise TypeError(f"shift must be an int, not {shift!r}")
    shift = int(shift)
    if not 0 <= shift <= MAX_SHIFT:
        raise ValueError(f"shift must be in 0..{MAX_SHIFT}, not {shift}")
    if acc.size and (acc.min() <= -_ACC_LIMIT or acc.max() >= _ACC_LIMIT):
        raise ValueError("acc must satisfy |acc| < 2**62")
    code = activation_code(activation)

    total = acc + bias
    if shift > 0:
        total = (total + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    y = saturate_int16(total)
    if code == ACTIVATIONS.index("relu"):
        y = np.maximum(y, np.int16(0))
    elif ACTIVATIONS[code] in NONLINEAR:
        from golden.contract.activation import ACT_FRAC, pwl
        y = pwl(ACTIVATIONS[code], y, ACT_FRAC)
    return y
