"""Golden fixed-point inference of a compressed model on int16 inputs.

Every layer computes ``output_stage(W @ x, bias, f_in + f_w - f_out, activation)``
with exact integer products and sums (:func:`golden.contract.fixed.output_stage`).  For
FC layers :func:`infer` can run through the per-module golden functions
(Encoder → NSM → SSM → PEFU, :func:`golden.twins.fc.sparse_fc_group`, group by group
of ``tn`` outputs) or, identically and much faster, as a dense integer matrix
product; the tests hold the two equal.
"""

import numpy as np

from golden.contract.fixed import output_shift, output_stage
from golden.contract.model import decompress
from golden.twins.fc import sparse_fc_group
from golden.twins.pefu import check_pool, pool_max

__all__ = ["quantize_input", "infer", "fc_layer"]


def quantize_input(x, f_in):
    """Float inputs to int16 at ``f_in`` fractional bits (round half up, saturate)."""
    scaled = np.floor(np.asarray(x, dtype=np.float64) * (1 << f_in) + 0.5)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def fc_layer(layer, x, method="dense", tn=16, tm=16):
    """One FC layer on int16 rows ``x`` ``(batch, N_in)``; returns int16 ``(batch, N_out)``."""
    w = layer["weight"].astype(np.int64)
    shift = output_shift(layer["f_in"], layer["f_w"], layer["f_out"])
    x = np.asarray(x)
    if method == "dense":
        acc = x.astype(np.int64) @ w.T
        return output_stage(acc, layer["bias"].astype(np.int64), shift, layer["activation"])
    if method != "modules":
        raise ValueError(f"method must be 'dense' or 'modules', not {method!r}")
    out = np.zeros((x.shape[0], w.shape[0]), dtype=np.int16)
    for r, row in enumerate(x):
        for g in range(0, w.shape[0], tn):
            out[r, g:g + tn] = sparse_fc_group(row, w[g:g + tn], layer["bias"][g:g + tn],
                                               shift, layer["activation"], tm=tm)
    return out


def infer(model, x, method="dense", tn=16, tm=16, layers=None, pool=1):
    """Run int16 inputs ``x`` ``(batch, N_in)`` through the model's FC layers; returns
    the final int16 outputs (or, with ``layers="all"``, every layer's).  ``pool > 1``:
    the last layer's outputs of every ``pool`` consecutive vectors are max-pooled
    (:func:`golden.twins.pefu.pool_max`), as ``compile_model(..., pool=)`` does on chip."""
    x = np.asarray(x)
    if x.dtype != np.int16:
        raise TypeError(f"inputs must be int16 at the first layer's f_in, not {x.dtype}")
    pool = check_pool(pool, x.shape[0])
    outs = []
    for layer in decompress(model):
        if layer["kind"] != "fc":
            raise ValueError(f"layer {layer['name']!r}: kind {layer['kind']!r} is not "
                             f"supported by golden.twins.infer yet (fc only)")
        if x.shape[1] != layer["weight"].shape[1]:
            raise ValueError(f"layer {layer['name']!r} takes {layer['weight'].shape[1]} "
                             f"inputs, got {x.shape[1]}")
        x = fc_layer(layer, x, method, tn, tm)
        outs.append(x)
    if pool > 1:
        pooled = x[::pool].astype(np.int64)
        for k in range(1, pool):
            pooled = pool_max(pooled, x[k::pool])
        x = outs[-1] = pooled.astype(np.int16)
    return outs if layers == "all" else x
