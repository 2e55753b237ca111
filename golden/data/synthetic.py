"""Random compressed networks and input vectors, for tests and regressions.

Both draw from a NumPy ``Generator`` the caller seeds, so a case is replayed by
its seed alone."""

import numpy as np

from golden.compression.pipeline import CompressConfig, compress_network

__all__ = ["random_model", "random_inputs"]


def random_model(rng, sizes, sparsity, bits, block=(2, 4), region=None, tn_align=None,
                 scale=0.3, activation="relu"):
    """A compressed MLP of layer widths ``sizes`` (``[n_in, hidden…, n_out]``) with
    Gaussian weights, ``sparsity`` of its ``block``-shaped weight blocks pruned and
    the rest quantized to ``bits``-bit codebooks; ``activation`` on the hidden
    layers (the last is identity)."""
    layers = [(f"fc{i + 1}", rng.normal(size=(n_out, n_in)) * scale,
               rng.normal(size=n_out) * 0.1, {})
              for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]))]
    cfg = CompressConfig(block_fc=block, sparsity_fc=sparsity, bits_fc=bits, region_fc=region,
                         tn_align=tn_align, steps=1, activation=activation)
    model, _ = compress_network(layers, cfg)
    return model


def random_inputs(rng, n, vectors=2, density=0.6):
    """``vectors`` int16 input vectors of length ``n``, about ``density`` of them nonzero."""
    x = rng.integers(-400, 400, size=(vectors, n))
    x[rng.random(x.shape) > density] = 0
    return x.astype(np.int16)


def random_sparse_fc(rng, n_in, n_out, weight_density, bits=4, block=(16, 16), name="fc",
                     activation="identity", f_in=8, f_w=8, f_out=8, block_mask=None):
    """A compressed FC layer built directly (no training, no k-means: fast at the
    sizes of AlexNet's and VGG16's FC layers): a random block mask keeping about
    ``weight_density`` of the ``block``-shaped blocks (or the given ``block_mask``,
    ``(ceil(n_out / block[0]), ceil(n_in / block[1]))`` bool), random codes into
    one random codebook of ``2**bits`` int16 entries (raw int16 above 8 bits),
    zero bias."""
    from golden.contract.model import Layer, Model, expand
    grid = (-(-n_out // block[0]), -(-n_in // block[1]))
    if block_mask is None:
        block_mask = rng.random(grid) < weight_density
    elif np.shape(block_mask) != grid:
        raise ValueError(f"block_mask must have shape {grid}, not {np.shape(block_mask)}")
    mask = expand(block_mask, (n_out, n_in), block)
    n = int(mask.sum())
    if bits > 8:
        codes, books = rng.integers(-2000, 2000, size=n), None
    else:
        codes = rng.integers(0, 1 << bits, size=n)
        books = np.sort(rng.integers(-2000, 2000, size=(1, 1 << bits))).astype(np.int16)
    layer = Layer(name=name, kind="fc", shape=(n_out, n_in), block=tuple(block), bits=bits,
                  block_mask=block_mask, codes=codes, codebooks=books,
                  bias=np.zeros(n_out, dtype=np.int32), f_in=f_in, f_w=f_w, f_out=f_out,
                  activation=activation)
    return Model([layer])
