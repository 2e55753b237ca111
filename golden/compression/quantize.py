"""Local quantization (thesis §3.3, docs/architecture.md §1).

A layer's 2-D view ``(N_out, rest)`` (conv weights flattened per output map) is
tiled into regions of ``region = (r_out, r_in)`` weights (partial regions at
the edges); each region gets its own codebook of up to ``2**bits`` centroids,
found by optimal 1-D k-means (``ckmeans``, the Wang & Song dynamic programme:
exact and deterministic) over the region's surviving weights, and every
surviving weight becomes the index of its nearest centroid.  Codebooks are
int16 with ``f_w`` fractional bits.  Global quantization is one region
(``region=None``).  Above 8 bits there is no codebook: weights are stored as
raw int16 (docs/architecture.md §2 packing, :mod:`golden.contract.packing`).

With ``zero_code=True`` code 0 of every codebook is the value 0, so that a
weight position kept by a shared synapse bitmap but pruned for this output
can be stored as an explicit zero.
"""

import numpy as np

from golden.contract.packing import pack, slot_bits, unpack  # noqa: F401  (the packing lives there)

__all__ = ["MAX_CODEBOOK", "region_grid", "region_index", "choose_f_w", "quantize",
           "pack", "unpack", "slot_bits"]

#: ckmeans clusters into at most 255 groups: an 8-bit codebook uses 255 of its 256 codes.
MAX_CODEBOOK = 255


def _view2d(shape):
    return (shape[0], int(np.prod(shape[1:])) if len(shape) > 1 else 1)


def region_grid(shape, region):
    """Regions along each axis of the 2-D view, for ``region=(r_out, r_in)`` or None."""
    rows, cols = _view2d(shape)
    if region is None:
        return (1, 1), (rows, cols)
    r = tuple(int(x) for x in region)
    if len(r) != 2 or min(r) < 1:
        raise ValueError(f"region must be two positive extents (r_out, r_in), not {region!r}")
    return (-(-rows // r[0]), -(-cols // r[1])), r


def region_index(shape, region):
    """Per weight (in the 2-D view) the number of its region, row-major over the grid."""
    rows, cols = _view2d(shape)
    (g_out, g_in), (r_out, r_in) = region_grid(shape, region)
    ri = np.arange(rows)[:, None] // r_out
    ci = np.arange(cols)[None, :] // r_in
    return ri * g_in + ci


def choose_f_w(max_abs, width=16):
    """The most fractional bits (0..width-1) at which ``max_abs`` still fits a signed
    ``width``-bit integer after rounding."""
    limit = (1 << (width - 1)) - 1
    for f in range(width - 1, -1, -1):
        if round(max_abs * (1 << f)) <= limit:
            return f
    raise ValueError(f"weights up to {max_abs} do not fit int{width} even with f_w = 0")


def _centroids(values, k):
    import ckmeans
    distinct = np.unique(values)
    if distinct.size <= k:
        return distinct
    return np.array([c.mean() for c in ckmeans.ckmeans(values, k)])


def quantize(weights, mask, bits, region=None, f_w=None, zero_code=False):
    """Quantize the surviving weights of one layer.

    Parameters
    ----------
    weights : float array (FC or conv shape)
    mask : bool array of the same shape, True where the weight survives
    bits : int, 1..16; above 8 no codebook (raw int16)
    region : (r_out, r_in) or None (global)
    f_w : fractional bits of the int16 codebook/weights; default: the most that fit
    zero_code : reserve code 0 for the value 0

    Returns
    -------
    dict with ``codes`` (int64, the view's shape, -1 where pruned), ``codebooks``
    (int16 ``(regions, 2**bits)``, unused entries 0; None above 8 bits),
    ``region`` (the tiling), ``f_w``, ``bits``, ``slot`` and ``weight`` (the
    dequantized int16 weights, 0 where pruned, in the input's shape).
    """
    w = np.asarray(weights, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != w.shape:
        raise ValueError(f"mask shape {mask.shape} differs from weights shape {w.shape}")
    slot = slot_bits(bits)
    rows, cols = _view2d(w.shape)
    w2, m2 = w.reshape(rows, cols), mask.reshape(rows, cols)
    if f_w is None:
        f_w = choose_f_w(float(np.abs(w2[m2]).max()) if m2.any() else 0.0)
    scale = float(1 << f_w)
    codes = np.full((rows, cols), -1, dtype=np.int64)
    if slot == 16:
        ints = np.clip(np.round(w2 * scale), -32768, 32767).astype(np.int64)
        codes[m2] = ints[m2]
        dense = np.where(m2, ints, 0)
        return {"codes": codes, "codebooks": None, "region": region, "f_w": f_w, "bits": bits,
                "slot": slot, "weight": dense.astype(np.int16).reshape(w.shape)}
    n_codes = 1 << bits
    k = min(n_codes - int(zero_code), MAX_CODEBOOK)
    rid = region_index(w.shape, region)
    (g_out, g_in), _ = region_grid(w.shape, region)
    books = np.zeros((g_out * g_in, n_codes), dtype=np.int64)
    for r in range(g_out * g_in):
        sel = (rid == r) & m2
        if not sel.any():
            continue
        cents = np.round(_centroids(w2[sel], k) * scale)
        cents = np.unique(np.clip(cents, -32768, 32767))
        first = int(zero_code)
        books[r, first:first + cents.size] = cents
        used = np.concatenate([[0.0] if zero_code else [], cents]) / scale
        # Nearest centroid (ties to the lower code), after rounding to int16.
        dist = np.abs(w2[sel][:, None] - used[None, :])
        codes[sel] = np.argmin(dist, axis=1)
    dense = np.zeros((rows, cols), dtype=np.int64)
    rr, cc = np.nonzero(m2)
    dense[rr, cc] = books[rid[rr, cc], codes[rr, cc]]
    return {"codes": codes, "codebooks": books.astype(np.int16), "region": region, "f_w": f_w,
            "bits": bits, "slot": slot, "weight": dense.astype(np.int16).reshape(w.shape)}
