"""Irregularity of a sparsity pattern (thesis eq. 3.4): the losslessly compressed
size of its index bitmap.  ``R(Irr) = JBIG(I_fine) / JBIG(I_coarse)``.

The compressor is JBIG (ITU T.82, the thesis' choice) through Debian's
``pbmtojbg`` (package ``jbigkit-bin``) when it is installed, otherwise LZMA
from Python's standard library; :func:`compressed_size` says which it used.
A weight tensor's bitmap is its 2-D view ``(N_out, rest)`` as a bi-level image.
"""

import lzma
import shutil
import subprocess

import numpy as np

__all__ = ["jbig_available", "compressed_size", "r_irr"]


def jbig_available():
    return shutil.which("pbmtojbg") is not None


def _pbm(bitmap):
    rows, cols = bitmap.shape
    return f"P4\n{cols} {rows}\n".encode() + np.packbits(bitmap, axis=1).tobytes()


def compressed_size(bitmap, compressor=None):
    """``(bytes, compressor name)`` of a bitmap (any shape; viewed as ``(N_out, rest)``)."""
    bitmap = np.asarray(bitmap, dtype=bool)
    bitmap = bitmap.reshape(bitmap.shape[0], -1) if bitmap.ndim > 1 else bitmap.reshape(1, -1)
    compressor = compressor or ("jbig" if jbig_available() else "lzma")
    if compressor == "jbig":
        proc = subprocess.run(["pbmtojbg", "-q"], input=_pbm(bitmap), capture_output=True,
                              check=True)
        return len(proc.stdout), "JBIG (jbigkit pbmtojbg)"
    if compressor == "lzma":
        return len(lzma.compress(np.packbits(bitmap).tobytes(), preset=9)), "LZMA (xz, preset 9)"
    raise ValueError(f"compressor must be 'jbig' or 'lzma', not {compressor!r}")


def r_irr(fine_mask, coarse_mask, compressor=None):
    """``(R(Irr), fine bytes, coarse bytes, compressor name)``."""
    fine, name = compressed_size(fine_mask, compressor)
    coarse, _ = compressed_size(coarse_mask, compressor)
    return fine / max(1, coarse), fine, coarse, name
