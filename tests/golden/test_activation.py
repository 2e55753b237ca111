"""The piecewise-linear sigmoid/tanh rule (golden.contract.activation) from first
principles: a hand-worked point, the breakpoints, the interpolation error bound,
monotonicity, symmetry and saturation over every int16 input."""

import math

import numpy as np
import pytest

from golden.contract.activation import FUNCTIONS, RANGE, SEGMENTS, max_error, pwl, table

ALL = np.arange(-32768, 32768, dtype=np.int64)


def test_hand_worked_sigmoid_point():
    # f = 8: segments of 0.5 = 128 units.  Breakpoints at x = 0 and x = 128:
    # round(0.5 * 256) = 128 and round(sigmoid(0.5) * 256) = round(159.36) = 159.
    # At x = 64 (0.25): 128 + (31 * 64 + 64) >> 7 = 128 + 16 = 144
    # (float: sigmoid(0.25) * 256 = 143.9).
    assert int(pwl("sigmoid", 64, 8)) == 144
    assert int(pwl("sigmoid", 0, 8)) == 128 and int(pwl("sigmoid", 128, 8)) == 159


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("f", [4, 8, 10])
def test_rule_over_every_int16_input(name, f):
    b, width = table(name, f)
    lo = -(RANGE[name] << f)
    # Breakpoints: the table's values, each the float function rounded to the grid.
    xs = lo + width * np.arange(SEGMENTS)
    np.testing.assert_array_equal(pwl(name, xs, f), b[:SEGMENTS])
    for x, v in zip(xs, b):
        assert v == math.floor(float(FUNCTIONS[name](x / (1 << f))) * (1 << f) + 0.5)
    y = pwl(name, ALL, f).astype(np.int64)
    # Monotonic like the functions, flat outside the range.
    assert np.all(np.diff(y) >= 0)
    assert np.all(y[ALL < lo] == b[0]) and np.all(y[ALL >= -lo] == b[SEGMENTS])
    # Symmetry within one step of the grid: tanh is odd, sigmoid(-x) = 1 - sigmoid(x).
    inside = (ALL > lo) & (ALL < -lo)
    mirrored = pwl(name, -ALL[inside], f).astype(np.int64)
    if name == "tanh":
        assert np.max(np.abs(y[inside] + mirrored)) <= 1
    else:
        assert np.max(np.abs(y[inside] + mirrored - (1 << f))) <= 1
    # Error bound from first principles: linear interpolation of exact values
    # errs by at most max|f''| h**2 / 8; rounding the breakpoints and the result
    # adds at most one step of the grid; outside the range the function is
    # within its tail of the end value.
    h = width / (1 << f)
    f2 = {"sigmoid": 1 / (6 * math.sqrt(3)), "tanh": 4 / (3 * math.sqrt(3))}[name]
    tail = abs(float(FUNCTIONS[name](RANGE[name])) - float(FUNCTIONS[name](np.inf)))
    bound = f2 * h * h / 8 + 1.0 / (1 << f) + tail
    assert max_error(name, f) <= bound


def test_documented_error_table_is_what_is_measured():
    # The module's table of maximum errors is a measurement: it must stay true.
    import re

    import golden.contract.activation as act
    rows = re.findall(r"^(\d+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+$", act.__doc__, re.M)
    assert len(rows) == 3
    for f, sig, tanh in rows:
        assert round(max_error("sigmoid", int(f)), 4) == float(sig)
        assert round(max_error("tanh", int(f)), 4) == float(tanh)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of sigmoid, tanh, not 'gelu'"):
        table("gelu", 8)
    with pytest.raises(ValueError, match="fractional bits f must be an integer in 2..11"):
        pwl("tanh", 0, 12)


def test_nonlinear_layers_need_act_frac(tmp_path):
    """A sigmoid/tanh layer is at ACT_FRAC fractional bits: the compressor and the
    model file both refuse anything else, naming the field."""
    import dataclasses

    from golden.compression.pipeline import CompressConfig
    from golden.contract.activation import ACT_FRAC
    from golden.contract.model import ModelFormatError, save
    from golden.data.synthetic import random_model
    with pytest.raises(ValueError, match=f"f-act must be {ACT_FRAC} with activation 'tanh'"):
        CompressConfig(activation="tanh", f_act=6).validate()
    CompressConfig(activation="sigmoid", f_act=ACT_FRAC).validate()
    model = random_model(np.random.default_rng(0), [12, 6, 3], 0.5, 4, activation="sigmoid")
    assert model.layers[0].activation == "sigmoid" and model.layers[0].f_out == ACT_FRAC
    bad = dataclasses.replace(model.layers[0], f_out=ACT_FRAC - 1)
    with pytest.raises(ModelFormatError, match=f"field 'f_out' must be {ACT_FRAC} with "
                                               f"activation 'sigmoid'"):
        save(dataclasses.replace(model, layers=[bad] + model.layers[1:]), tmp_path / "m.npz")
