"""One LSTM cell step on the accelerator (thesis: the LSTM benchmarks), split
into what the hardware does and what the host does.

The step, with ``z = [x, h]``::

    i, f, o = sigmoid(W_s z + b_s)          # 3H gate outputs  ─┐ accelerator: two
    g       = tanh(W_t z + b_t)             #  H candidates    ─┘ compressed FC layers
    c'      = f * c + i * g                 # host (element-wise)
    h'      = o * tanh(c')                  # host (element-wise, the same table)

The two FC layers take the same input, so they are two one-layer models (two
compiled programs, one after the other); their sigmoid and tanh run in the
PEFU's output stage (:mod:`golden.contract.activation`, at ``ACT_FRAC`` = 8 fractional
bits).  The accelerator has no element-wise multiplier between two neuron
vectors, so the cell-state update is host work, in the same fixed point:
every value int16 at 8 fractional bits, products rounded half up and
saturated (:func:`golden.contract.fixed.output_stage` with shift 8), ``tanh(c')`` by
:func:`golden.contract.activation.pwl` — the table the PEFU uses.

:func:`step` is the golden step; :func:`step_with` runs the two FC layers
through any ``run(model, z)`` (the RTL, in the tests) and does the same host
work, so RTL and golden agree bit for bit when the FC layers do.
"""

from dataclasses import dataclass

import numpy as np

from golden.contract.activation import ACT_FRAC, pwl
from golden.contract.fixed import output_stage

__all__ = ["Cell", "compress_cell", "host_update", "step", "step_with", "step_float"]


@dataclass
class Cell:
    """A compressed LSTM cell: ``sigmoid_gates`` (X+H → 3H, rows i, f, o) and
    ``tanh_gates`` (X+H → H), each a one-layer :class:`golden.contract.model.Model`; the
    float weights kept for the float reference."""
    inputs: int
    hidden: int
    sigmoid_gates: object
    tanh_gates: object
    float_weights: tuple      # (W (4H, X+H), b (4H,)) in rows i, f, o, g


def compress_cell(w, b, inputs, *, sparsity=0.5, bits=8, block=(2, 4), tn_align=None):
    """Compress float LSTM weights ``w`` ``(4H, X+H)`` (rows i, f, o, g) and bias
    ``b`` ``(4H,)`` into a :class:`Cell`."""
    from golden.compression.pipeline import CompressConfig, compress_layer
    from golden.contract.model import Model
    w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] % 4 or b.shape != (w.shape[0],):
        raise ValueError(f"w must be (4H, X+H) and b (4H,), not {w.shape} and {b.shape}")
    hidden = w.shape[0] // 4
    if not 0 < inputs < w.shape[1] or w.shape[1] != inputs + hidden:
        raise ValueError(f"w has {w.shape[1]} columns; inputs ({inputs}) + hidden ({hidden}) "
                         f"must equal that")
    cfg = CompressConfig(block_fc=block, sparsity_fc=sparsity, bits_fc=bits, steps=1,
                         tn_align=tn_align, f_in=ACT_FRAC, f_act=ACT_FRAC)
    s = slice(0, 3 * hidden)
    t = slice(3 * hidden, 4 * hidden)
    sig, _ = compress_layer("gates_sigmoid", w[s], b[s], "fc", cfg, f_in=ACT_FRAC,
                            f_out=ACT_FRAC, activation="sigmoid")
    tan, _ = compress_layer("gates_tanh", w[t], b[t], "fc", cfg, f_in=ACT_FRAC,
                            f_out=ACT_FRAC, activation="tanh")
    return Cell(inputs, hidden, Model([sig]), Model([tan]), (w, b))


def _mul(a, b):
    """Fixed-point product at ACT_FRAC bits: round half up, saturate to int16."""
    return output_stage(a.astype(np.int64) * b.astype(np.int64), 0, ACT_FRAC)


def host_update(gates_sig, gates_tanh, c):
    """The host's element-wise work: ``(h', c')`` from the two layers' outputs
    (int16 rows ``(batch, 3H)`` and ``(batch, H)``) and the cell state ``c``."""
    H = gates_tanh.shape[1]
    i, f, o = gates_sig[:, :H], gates_sig[:, H:2 * H], gates_sig[:, 2 * H:]
    fc = _mul(f, c).astype(np.int64)
    ig = _mul(i, gates_tanh).astype(np.int64)
    c_new = np.clip(fc + ig, -32768, 32767).astype(np.int16)
    h_new = _mul(o, pwl("tanh", c_new, ACT_FRAC))
    return h_new, c_new


def _z(cell, x, h):
    x, h = np.atleast_2d(x), np.atleast_2d(h)
    if x.shape[1] != cell.inputs or h.shape[1] != cell.hidden:
        raise ValueError(f"x must have {cell.inputs} columns and h {cell.hidden}, "
                         f"not {x.shape[1]} and {h.shape[1]}")
    return np.concatenate([x, h], axis=1).astype(np.int16)


def step_with(cell, run, x, h, c):
    """One step with the FC layers computed by ``run(model, z) -> int16 rows``."""
    z = _z(cell, x, h)
    return host_update(run(cell.sigmoid_gates, z), run(cell.tanh_gates, z),
                       np.atleast_2d(c).astype(np.int16))


def step(cell, x, h, c):
    """The golden step on int16 rows at ACT_FRAC fractional bits: ``(h', c')``."""
    from golden.twins.infer import infer
    return step_with(cell, infer, x, h, c)


def step_float(cell, x, h, c):
    """The float LSTM step with the uncompressed weights (real-valued inputs)."""
    from scipy.special import expit
    w, b = cell.float_weights
    H = cell.hidden
    a = np.concatenate([np.atleast_2d(x), np.atleast_2d(h)], axis=1) @ w.T + b
    i, f, o = expit(a[:, :H]), expit(a[:, H:2 * H]), expit(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    c_new = f * np.atleast_2d(c) + i * g
    return o * np.tanh(c_new), c_new
