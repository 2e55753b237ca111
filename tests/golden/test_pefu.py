"""golden.twins.pefu against hand-worked beats and a naive Python-integer model."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.twins.pefu import accumulate, beat_sums, pefu


def test_hand_worked_two_outputs():
    # Output 0: beats (1,2)x(5,6) and (3,4)x(7,8): 5 + 12 + 21 + 32 = 70;
    # bias 2, shift 2: (70 + 2 + 2) >> 2 = 18.  Output 1: one beat (-3,1)x(4,4)
    # = -8; bias 0, shift 0, ReLU -> 0.
    neurons = [[1, 2], [3, 4], [-3, 1]]
    weights = [[5, 6], [7, 8], [4, 4]]
    last = [0, 1, 1]
    np.testing.assert_array_equal(beat_sums(neurons, weights), [17, 53, -8])
    np.testing.assert_array_equal(accumulate([17, 53, -8], last), [70, -8])
    out = pefu(neurons, weights, last, bias=[2, 0], shift=[2, 0],
               activation=["identity", "relu"])
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, [18, 0])


def test_extreme_products_are_exact():
    # 16 products of (-32768)*(-32768) = 2**30 each: 2**34, far beyond int32.
    neurons = np.full((4, 4), -32768)
    # Shift 19: 2**34 / 2**19 = 32768, one past int16: saturates.  Shift 20: 16384.
    out = pefu(neurons, neurons, [0, 0, 0, 1], bias=0, shift=19)
    assert int(out[0]) == 32767
    out = pefu(neurons, neurons, [0, 0, 0, 1], bias=0, shift=20)
    assert int(out[0]) == 16384


def test_open_output_rejected():
    with pytest.raises(ValueError, match="^the final beat must have last set"):
        pefu([[1, 1]], [[1, 1]], [0])


def test_shape_errors():
    with pytest.raises(ValueError, match=r"^neurons and weights must have the same shape"):
        pefu([[1, 1]], [[1, 1, 1]], [1])
    with pytest.raises(ValueError,
                       match=r"^bias must be a scalar or have one entry per output \(1\)"):
        pefu([[1, 1]], [[1, 1]], [1], bias=[1, 2])


def naive(neurons, weights, last, bias, shift, activation):
    out, acc, k = [], 0, 0
    for n_row, w_row, end in zip(neurons, weights, last):
        for n, w in zip(n_row, w_row):
            acc += int(n) * int(w)
        if end:
            total = acc + bias[k]
            y = math.floor(Fraction(total, 2 ** shift[k]) + Fraction(1, 2)) if shift[k] else total
            y = max(-32768, min(32767, y))
            out.append(max(0, y) if activation[k] == "relu" else y)
            acc, k = 0, k + 1
    return out


int16 = st.integers(-32768, 32767)


@st.composite
def beats(draw):
    tm = draw(st.sampled_from([2, 4, 8]))
    n_out = draw(st.integers(1, 5))
    neurons, weights, last = [], [], []
    for _ in range(n_out):
        n_beats = draw(st.integers(1, 4))
        for b in range(n_beats):
            neurons.append(draw(st.lists(int16, min_size=tm, max_size=tm)))
            weights.append(draw(st.lists(int16, min_size=tm, max_size=tm)))
            last.append(b == n_beats - 1)
    bias = draw(st.lists(st.integers(-(1 << 31), (1 << 31) - 1), min_size=n_out, max_size=n_out))
    shift = draw(st.lists(st.integers(0, 31), min_size=n_out, max_size=n_out))
    act = draw(st.lists(st.sampled_from(["identity", "relu"]), min_size=n_out, max_size=n_out))
    return neurons, weights, last, bias, shift, act


@settings(max_examples=300, deadline=None)
@given(beats())
def test_property_against_naive_model(case):
    neurons, weights, last, bias, shift, act = case
    got = pefu(neurons, weights, last, bias, shift, act)
    assert got.tolist() == naive(neurons, weights, last, bias, shift, act)
