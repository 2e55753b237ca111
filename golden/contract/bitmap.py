"""Direct indexing (docs/architecture.md §2): a sparse vector is its nonzero values in order
plus a bitmap with 1 where the value is nonzero."""

import numpy as np

__all__ = ["as_bitmap", "bitmap_string", "exclusive_prefix"]


def as_bitmap(bits, name="bitmap"):
    """A 1-D bool array from a bool/int array, a sequence, or a string like ``"11101010"``
    (first character = position 0)."""
    if isinstance(bits, str):
        if set(bits) - {"0", "1"}:
            raise ValueError(f"{name} string may hold only '0' and '1', not {bits!r}")
        return np.array([c == "1" for c in bits], dtype=bool)
    arr = np.asarray(bits)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, not shape {arr.shape}")
    if arr.size and arr.dtype != bool:
        if arr.dtype.kind not in "iub" or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold only 0 and 1")
    return arr.astype(bool)


def bitmap_string(bits):
    """``"11101010"`` for a bitmap (position 0 first)."""
    return "".join("1" if b else "0" for b in as_bitmap(bits))


def exclusive_prefix(bits):
    """Number of set bits before each position (int64)."""
    bits = as_bitmap(bits).astype(np.int64)
    return np.cumsum(bits) - bits
