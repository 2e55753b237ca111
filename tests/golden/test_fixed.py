"""golden.contract.fixed.output_stage against first principles.

The reference here is exact rational arithmetic with Python's unbounded
integers: y = clamp(floor((acc + bias) / 2**s + 1/2)), then the activation.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.contract.activation import ACT_FRAC, pwl
from golden.contract.fixed import (
    ACTIVATIONS,
    MAX_SHIFT,
    NONLINEAR,
    activation_code,
    output_shift,
    output_stage,
)


def reference(acc, bias, shift, activation):
    """Round half up of (acc + bias) / 2**shift, saturated, then the activation."""
    y = math.floor(Fraction(acc + bias, 2 ** shift) + Fraction(1, 2)) if shift else acc + bias
    y = max(-32768, min(32767, y))
    if activation in NONLINEAR:      # the table rule, tested on its own in test_activation_golden
        return int(pwl(activation, y, ACT_FRAC))
    return max(y, 0) if activation == "relu" else y


@pytest.mark.parametrize("acc, shift, expected", [
    # Exact halves round up (towards +inf), on both sides of zero.
    (1, 1, 1),      # +0.5  -> 1
    (-1, 1, 0),     # -0.5  -> 0
    (3, 1, 2),      # +1.5  -> 2
    (-3, 1, -1),    # -1.5  -> -1
    (2, 2, 1),      # +0.5  -> 1
    (-2, 2, 0),     # -0.5  -> 0
    (6, 2, 2),      # +1.5  -> 2
    (-6, 2, -1),    # -1.5  -> -1
    # Just off the halves.
    (5, 2, 1),      # +1.25 -> 1
    (7, 2, 2),      # +1.75 -> 2
    (-5, 2, -1),    # -1.25 -> -1
    (-7, 2, -2),    # -1.75 -> -2
    # Shift 0 is the identity (then saturation).
    (1234, 0, 1234),
    (-1234, 0, -1234),
    # Large shifts: 2**61 / 2**62 = 0.5 rounds up to 1; just below rounds to 0.
    (1 << 61, 62, 1),
    ((1 << 61) - 1, 62, 0),
    (-(1 << 61), 62, 0),
    (-(1 << 61) - 1, 62, -1),
])
def test_rounding_hand_worked(acc, shift, expected):
    got = output_stage(np.array([acc], dtype=np.int64), 0, shift)
    assert got.dtype == np.int16
    assert int(got[0]) == expected


@pytest.mark.parametrize("acc, bias, shift, expected", [
    (32767, 0, 0, 32767),
    (32768, 0, 0, 32767),
    (-32768, 0, 0, -32768),
    (-32769, 0, 0, -32768),
    (0, (1 << 31) - 1, 0, 32767),
    (0, -(1 << 31), 0, -32768),
    # 32767.5 rounds up to 32768, which saturates; 32767.25 does not.
    (65535, 0, 1, 32767),
    ((32767 << 2) + 1, 0, 2, 32767),
    # -32768.5 rounds to -32768 (half up), -32768.75 to -32769 and saturates.
    (-65537, 0, 1, -32768),
    (-(32768 << 2) - 3, 0, 2, -32768),
    ((1 << 61) - 1, 0, 10, 32767),
    (-(1 << 61) + 1, 0, 10, -32768),
])
def test_saturation(acc, bias, shift, expected):
    assert int(output_stage(np.int64(acc), bias, shift)) == expected


def test_relu_after_saturation_and_rounding():
    acc = np.array([-5, -1, 0, 1, 5, -(1 << 40), 1 << 40], dtype=np.int64)
    got = output_stage(acc, 0, 1, "relu")
    # -5/2 = -2.5 -> -2 -> 0; -0.5 -> 0; 0; 0.5 -> 1; 2.5 -> 3; saturated ends.
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 3, 0, 32767])


def test_bias_broadcast_and_shape():
    acc = np.arange(12, dtype=np.int64).reshape(3, 4) * 1000
    bias = np.array([1, -2, 3, -4])
    got = output_stage(acc, bias, 3)
    assert got.shape == (3, 4) and got.dtype == np.int16
    for (i, j), a in np.ndenumerate(acc):
        assert got[i, j] == reference(int(a), int(bias[j]), 3, "identity")


@settings(max_examples=400, deadline=None)
@given(acc=st.integers(-(1 << 62) + 1, (1 << 62) - 1),
       bias=st.integers(-(1 << 31), (1 << 31) - 1),
       shift=st.integers(0, MAX_SHIFT),
       activation=st.sampled_from(ACTIVATIONS))
def test_property_against_unbounded_integers(acc, bias, shift, activation):
    got = int(output_stage(np.array([acc]), bias, shift, activation)[0])
    assert got == reference(acc, bias, shift, activation)


@settings(max_examples=200, deadline=None)
@given(acc=st.integers(-(1 << 20), 1 << 20), shift=st.integers(0, 24))
def test_property_near_the_int16_range(acc, shift):
    # Values whose shifted result lands near the int16 edges, where saturation
    # and rounding interact.
    got = int(output_stage(np.array([acc << 4]), 0, shift)[0])
    assert got == reference(acc << 4, 0, shift, "identity")


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(shift=-1), ValueError, r"^shift must be in 0\.\.62, not -1$"),
    (dict(shift=63), ValueError, r"^shift must be in 0\.\.62, not 63$"),
    (dict(shift=1.0), TypeError, r"^shift must be an int, not 1\.0$"),
    (dict(activation="swish"), ValueError,
     r"^activation must be one of 'identity', 'relu', 'sigmoid', 'tanh', not 'swish'$"),
    (dict(bias=1 << 31), ValueError, r"^bias must be within int32"),
    (dict(acc=np.array([1.5])), TypeError, r"^acc must be an integer array, not float64$"),
    (dict(acc=np.array([1 << 62])), ValueError, r"^acc must satisfy \|acc\| < 2\*\*62$"),
])
def test_bad_arguments(kwargs, error, message):
    args = dict(acc=np.array([1]), bias=0, shift=0, activation="identity")
    args.update(kwargs)
    with pytest.raises(error, match=message):
        output_stage(**args)


def test_activation_codes_and_output_shift():
    assert [activation_code(a) for a in ACTIVATIONS] == list(range(len(ACTIVATIONS)))
    assert output_shift(8, 12, 8) == 12
    with pytest.raises(ValueError, match=r"^f_out must be at most f_in \+ f_w = 10, not 11$"):
        output_shift(5, 5, 11)
