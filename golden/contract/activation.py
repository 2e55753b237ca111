"""Piecewise-linear sigmoid and tanh for the PEFU's output stage (thesis: the PE
functional unit applies the nonlinear activation from a table).

One function defines the rule the hardware will follow, :func:`pwl`, and one
the table it reads, :func:`table`:

* the input ``x`` is the int16 output of the shift-and-saturate step, a value
  ``x / 2**f`` with ``f`` fractional bits (the layer's ``f_out``); the output
  has the same format;
* the table holds ``f(x_i)`` rounded to the output grid at the
  ``SEGMENTS + 1`` breakpoints ``x_i = -RANGE + i * width`` (``width =
  2 * RANGE / SEGMENTS`` real units, a power of two in input units);
* inside ``[-RANGE, RANGE)`` the result is ``b_i + (d_i * (x - x_i) + width /
  2) >> log2(width)`` with ``b_i`` the left breakpoint's value and ``d_i =
  b_{i+1} - b_i`` — linear interpolation rounded half up, which needs one
  small multiplier and a shift; below ``-RANGE`` it is ``b_0``, at or above
  ``RANGE`` it is ``b_SEGMENTS`` (both functions are flat there to within a
  step of the grid).

Measured against float over every int16 input (:func:`max_error`, checked in
``tests/golden/test_activation.py``), maximum absolute error in real units:

====  ========  ========  =============
f     sigmoid   tanh      grid 2**-f
====  ========  ========  =============
6     0.0159    0.0132    0.0156
8     0.0063    0.0077    0.0039
10    0.0034    0.0067    0.0010
====  ========  ========  =============

(below f = 8 the output grid dominates, above it the 32 segments: the
interpolation error ``max|f''| h**2 / 8``).

In the accelerator (:data:`golden.contract.fixed.ACTIVATIONS` codes 2 and 3, the PEFU's
last pipeline stages ``hdl.datapath.activation.PWL``) the format is fixed at
:data:`ACT_FRAC` = 8 fractional bits: a layer with a sigmoid or tanh has
``f_out = 8`` (the model file's validation and the compressor enforce it), and
its int16 output covers [-128, 128), well past both functions' flat tails.
"""

import math

import numpy as np
from scipy.special import expit

__all__ = ["FUNCTIONS", "RANGE", "SEGMENTS", "ACT_FRAC", "table", "pwl", "max_error"]

#: The float functions (NumPy ufuncs; SciPy's overflow-free logistic).
FUNCTIONS = {"sigmoid": expit, "tanh": np.tanh}
#: Real units: the table of each function spans [-RANGE, RANGE) (tanh is within
#: 2**-10 of +-1 beyond 4, the logistic within 2**-11 of 0/1 beyond 8).
RANGE = {"sigmoid": 8, "tanh": 4}
SEGMENTS = 32      # segments of 2 * RANGE / SEGMENTS: 0.5 (sigmoid), 0.25 (tanh)
#: Fractional bits of a sigmoid/tanh layer's output (and the activation's input)
#: in the accelerator.
ACT_FRAC = 8


def _check(name, f):
    if name not in FUNCTIONS:
        raise ValueError(f"activation must be one of {', '.join(FUNCTIONS)}, not {name!r}")
    if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or not 2 <= f <= 11:
        raise ValueError(f"fractional bits f must be an integer in 2..11 (the range must "
                         f"fit int16 and a segment be a whole power of two), not {f!r}")


def table(name, f):
    """The breakpoint values ``b_0 .. b_SEGMENTS`` (int16) of ``name`` at ``f``
    fractional bits, and the segment width in input units (a power of two)."""
    _check(name, f)
    r = RANGE[name]
    width = (2 * r << f) // SEGMENTS
    fn = FUNCTIONS[name]
    b = [int(math.floor(float(fn((-(r << f) + i * width) / (1 << f))) * (1 << f) + 0.5))
         for i in range(SEGMENTS + 1)]
    return np.array(b, dtype=np.int16), width


def pwl(name, x, f):
    """The piecewise-linear ``name`` of int16 ``x`` (array or scalar) at ``f``
    fractional bits, bit-exact as the hardware computes it (int16)."""
    b, width = table(name, f)
    b = b.astype(np.int64)
    shift = width.bit_length() - 1
    x = np.asarray(x, dtype=np.int64)
    lo = -(RANGE[name] << f)
    i = np.clip((x - lo) >> shift, 0, SEGMENTS - 1)
    x_i = lo + i * width
    d = b[i + 1] - b[i]
    y = b[i] + ((d * (x - x_i) + (width >> 1)) >> shift)
    y = np.where(x < lo, b[0], np.where(x >= -lo, b[SEGMENTS], y))
    return y.astype(np.int16)


def max_error(name, f=8):
    """The largest ``|pwl - float|`` in real units over every int16 input."""
    x = np.arange(-32768, 32768, dtype=np.int64)
    exact = FUNCTIONS[name](x / (1 << f))
    return float(np.max(np.abs(pwl(name, x, f) / (1 << f) - exact)))
