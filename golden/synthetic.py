"""Random compressed networks and input vectors, for tests and regressions.

Both draw from a NumPy ``Generator`` the caller seeds, so a case is replayed by
its seed alone."""

import numpy as np

from .compress import CompressConfig, compress_network

__all__ = ["random_model", "random_inputs"]


def random_model(rng, sizes, sparsity, bits, block=(2, 4), region=None, tn_align=None,
                 scale=0.3):
    """A compressed MLP of layer widths ``sizes`` (``[n_in, hidden…, n_out]``) with
    Gaussian weights, ``sparsity`` of its ``block``-shaped weight blocks pruned and
    the rest quantized to ``bits``-bit codebooks."""
    layers = [(f"fc{i + 1}", rng.normal(size=(n_out, n_in)) * scale,
               rng.normal(size=n_out) * 0.1, {})
              for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]))]
    cfg = CompressConfig(block_fc=block, sparsity_fc=sparsity, bits_fc=bits, region_fc=region,
                         tn_align=tn_align, steps=1)
    model, _ = compress_network(layers, cfg)
    return model


def random_inputs(rng, n, vectors=2, density=0.6):
    """``vectors`` int16 input vectors of length ``n``, about ``density`` of them nonzero."""
    x = rng.integers(-400, 400, size=(vectors, n))
    x[rng.random(x.shape) > density] = 0
    return x.astype(np.int16)
