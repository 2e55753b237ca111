"""Convolution and pooling: the golden layers, and how a convolution runs on the
accelerator (DESIGN §1's coarse-grained conv blocks, thesis default (16,1,1,1)).

**Golden convolution** (:func:`conv2d`): a direct sliding window over the
zero-padded input, exact int64 sums, then :func:`golden.fixed.output_stage` —
the FC rule, per output pixel.  Groups = 1.

**On the accelerator** a convolution is the FC datapath applied to patches:
:func:`im2col` turns the input ``(C, H, W)`` into one vector of ``C·kh·kw`` values
per output pixel, and :func:`as_fc` views the compressed conv layer as an FC
layer ``(O, C·kh·kw)`` — the same codes, codebooks and block mask, reshaped —
so the compiler, the NSM and the PEs run it unchanged: weight sparsity skips
whole blocks (a (16,1,1,1) block is 16 filters × one input position), and
neuron sparsity comes from each patch's bitmap (zeros after ReLU; padding
zeros too).  The patches are gathered by the host (``run_conv``'s caller
writes them as the program's input vectors), and the output pixels come back
one vector of ``O`` channels each: the rearrangement between layers is host
work.  A block shape whose kernel extent is neither 1×1 nor the whole kernel
would not stay contiguous in the patch order and is refused
(:class:`golden.compiler.CompileError`, naming the layer and ``block``).

**Pooling** (:func:`max_pool`, :func:`avg_pool`): golden twins, run by the
host between layers.  The thesis pools in the PE functional unit; here the
PEFU's output goes through the Encoder to memory per output pixel, and a pool
window spans several pixels (several COMPUTE tiles), so pooling in the PEFU
would need the tiles of one window to be accumulated together — not done yet.
Average pooling rounds half up: ``floor(sum / n + 1/2)``.
"""

import dataclasses

import numpy as np

from .fixed import output_shift, output_stage

__all__ = ["im2col", "conv2d", "as_fc", "run_conv", "max_pool", "avg_pool", "out_size",
           "infer_cnn", "POOLS"]


def out_size(n, k, stride, padding):
    return (n + 2 * padding - k) // stride + 1


def im2col(x, kh, kw, stride=1, padding=0):
    """``x`` int ``(C, H, W)`` → patches ``(H'·W', C·kh·kw)`` in (c, ky, kx) order,
    zero padded, rows in row-major output-pixel order."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be (C, H, W), not shape {x.shape}")
    c, h, w = x.shape
    ho, wo = out_size(h, kh, stride, padding), out_size(w, kw, stride, padding)
    if ho < 1 or wo < 1:
        raise ValueError(f"a {kh}x{kw} kernel with padding {padding} does not fit a "
                         f"{h}x{w} input")
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((ho, wo, c, kh, kw), dtype=x.dtype)
    for dy in range(kh):
        for dx in range(kw):
            cols[:, :, :, dy, dx] = xp[:, dy:dy + stride * ho:stride,
                                       dx:dx + stride * wo:stride].transpose(1, 2, 0)
    return cols.reshape(ho * wo, c * kh * kw)


def conv2d(layer, x):
    """Golden convolution of a decompressed conv layer (``golden.model.decompress``
    entry) on int16 ``x`` ``(C, H, W)``: int16 ``(O, H', W')``."""
    w = np.asarray(layer["weight"], dtype=np.int64)
    o, c, kh, kw = w.shape
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 3 or x.shape[0] != c:
        raise ValueError(f"layer {layer['name']!r} takes ({c}, H, W) inputs, not {x.shape}")
    s, p = layer["stride"], layer["padding"]
    _, h, wd = x.shape
    ho, wo = out_size(h, kh, s, p), out_size(wd, kw, s, p)
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    acc = np.zeros((o, ho, wo), dtype=np.int64)
    for dy in range(kh):                         # the sliding window, term by term
        for dx in range(kw):
            window = xp[:, dy:dy + s * ho:s, dx:dx + s * wo:s]      # (C, H', W')
            acc += np.einsum("oc,chw->ohw", w[:, :, dy, dx], window)
    shift = output_shift(layer["f_in"], layer["f_w"], layer["f_out"])
    bias = np.asarray(layer["bias"], dtype=np.int64)[:, None, None]
    return output_stage(acc, bias, shift, layer["activation"])


def as_fc(layer):
    """The compressed conv :class:`golden.model.Layer` as an FC layer over patches."""
    from .compiler import CompileError
    if layer.kind != "conv":
        raise ValueError(f"layer {layer.name!r} is {layer.kind!r}, not conv")
    o, c, kh, kw = layer.shape
    bo, bc, bh, bw = layer.block
    if (bh, bw) == (1, 1):
        if bc != 1:
            raise CompileError(f"layer {layer.name!r}: parameter 'block' {tuple(layer.block)} "
                               f"is not supported: with a 1x1 kernel extent the channel "
                               f"extent must be 1 (blocks (Bo,1,1,1)), or the block must "
                               f"span the whole {kh}x{kw} kernel (blocks (Bo,Bc,{kh},{kw}))")
        block = (bo, 1)
    elif (bh, bw) == (kh, kw):
        block = (bo, bc * kh * kw)
    else:
        raise CompileError(f"layer {layer.name!r}: parameter 'block' {tuple(layer.block)} is not "
                           f"supported: its kernel extent must be 1x1 or the whole {kh}x{kw} "
                           f"kernel (the patch order keeps only those contiguous)")
    bm = np.asarray(layer.block_mask)
    return dataclasses.replace(layer, kind="fc", shape=(o, c * kh * kw), block=block,
                               block_mask=bm.reshape(bm.shape[0], -1), stride=1, padding=0)


def run_conv(layer, x, run_fc):
    """Run compressed conv ``layer`` on int16 ``x`` ``(C, H, W)`` through
    ``run_fc(model, vectors) -> int16 (vectors, O)`` (the accelerator, or
    ``golden.infer.infer``): int16 ``(O, H', W')``."""
    from .model import Model
    o, c, kh, kw = layer.shape
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[0] != c:
        raise ValueError(f"layer {layer.name!r} takes ({c}, H, W) inputs, not {x.shape}")
    patches = im2col(x, kh, kw, layer.stride, layer.padding).astype(np.int16)
    ho = out_size(x.shape[1], kh, layer.stride, layer.padding)
    wo = out_size(x.shape[2], kw, layer.stride, layer.padding)
    y = np.asarray(run_fc(Model([as_fc(layer)]), patches))
    return y.T.reshape(o, ho, wo).astype(np.int16)


def _windows(x, k, stride):
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be (C, H, W), not shape {x.shape}")
    c, h, w = x.shape
    ho, wo = out_size(h, k, stride, 0), out_size(w, k, stride, 0)
    if ho < 1 or wo < 1:
        raise ValueError(f"a {k}x{k} pool does not fit a {h}x{w} input")
    return np.stack([x[:, dy:dy + stride * ho:stride, dx:dx + stride * wo:stride]
                     for dy in range(k) for dx in range(k)]).astype(np.int64)


def max_pool(x, k=2, stride=None):
    """Max pooling of int16 ``(C, H, W)``, ``k``×``k`` windows (stride ``k`` by default)."""
    return _windows(x, k, stride or k).max(axis=0).astype(np.int16)


def avg_pool(x, k=2, stride=None):
    """Average pooling, rounded half up: ``floor(sum / k² + 1/2)``."""
    s = _windows(x, k, stride or k).sum(axis=0)
    n = k * k
    return ((2 * s + n) // (2 * n)).astype(np.int16)


#: Pooling by name, for :func:`infer_cnn`.
POOLS = {"max": max_pool, "avg": avg_pool}


def infer_cnn(model, images, shape, run_fc=None, pool="max", pool_size=2):
    """Fixed-point inference of a LeNet-style compressed model: its conv layers,
    each followed by ``pool`` pooling (``pool_size``, on the host), then its FC
    layers on the flattened ``(C, H, W)`` maps.  ``images`` int16 ``(N, C·H·W)``
    or ``(N, C, H, W)`` with ``shape = (C, H, W)``; ``run_fc(model, vectors)``
    runs one FC model (default: the golden :func:`golden.infer.infer`; pass the
    accelerator's runner to run on the RTL).  Returns int16 ``(N, outputs)``."""
    from .infer import infer
    from .model import Model
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {pool!r}")
    run_fc = run_fc or infer
    images = np.asarray(images)
    convs = [layer for layer in model.layers if layer.kind == "conv"]
    fcs = [layer for layer in model.layers if layer.kind == "fc"]
    if model.layers[:len(convs)] != convs:
        raise ValueError("the model's conv layers must come before its FC layers")
    outs = []
    for img in images.reshape(len(images), *shape):
        h = img.astype(np.int16)
        for layer in convs:
            h = POOLS[pool](run_conv(layer, h, run_fc), pool_size)
        flat = h.reshape(1, -1)
        outs.append(run_fc(Model(fcs), flat)[0] if fcs else flat[0])
    return np.stack(outs).astype(np.int16)
