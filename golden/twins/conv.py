"""Convolution and pooling: the golden layers, and how a convolution runs on the
accelerator (docs/architecture.md §1's coarse-grained conv blocks, thesis default (16,1,1,1)).

**Golden convolution** (:func:`conv2d`): a direct sliding window over the
zero-padded input, exact int64 sums, then :func:`golden.contract.fixed.output_stage` —
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

**Pooling** (:func:`max_pool`, :func:`avg_pool` are the golden layers; average
pooling rounds half up, ``floor(sum / n + 1/2)``) runs on the accelerator:

* *Max pooling in the PEFU's output stage*, as in the thesis.  A pool window
  spans several output pixels, i.e. several COMPUTE tiles, so the patches go
  in :func:`pool_order` (each window's pixels one after the other) and the
  compiler (``compile_model(..., pool=k²)``) runs a window's first tile
  writing its NBout row and the others with ``COMPUTE pool=1``, which keeps
  the larger value per lane (:func:`golden.twins.pefu.pool_max`, a read-modify-write
  of the row, one cycle per tile); the Encoder stores one pooled pixel per
  window.  Overlapping windows (stride < k) recompute the shared pixels.
* *Average pooling as a conv layer*: :func:`avg_pool_layer` is weight 1 at
  ``log2(k²)`` fractional bits on the channel diagonal, whose output stage is
  the average rounded half up bit for bit — for power-of-two windows (2×2,
  4×4); other sizes stay on the host.  (An in-PEFU sum would need NBout lanes
  wider than int16.)
"""

import dataclasses

import numpy as np

from golden.contract.fixed import output_shift, output_stage

__all__ = ["im2col", "conv2d", "as_fc", "gathered", "map_columns", "run_conv", "pool_order",
           "max_pool", "avg_pool", "avg_pool_layer", "out_size", "infer_cnn", "POOLS"]


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
    """Golden convolution of a decompressed conv layer (``golden.contract.model.decompress``
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
    """The compressed conv :class:`golden.contract.model.Layer` as an FC layer over patches."""
    from golden.compiler import CompileError
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


def gathered(weight, record_windows, window):
    """A conv layer's weights ``(O, C, kh, kw)`` as an FC matrix over a gathered patch
    (:meth:`golden.contract.layout.MapLayout.patch`): ``w[o, c, ky, kx]`` at column
    ``(ky * kw + kx) * record_windows * window + c``, zeros elsewhere."""
    w = np.asarray(weight)
    o, c, kh, kw = w.shape
    slots = record_windows * window
    if c > slots:
        raise ValueError(f"{c} channels do not fit a record of {slots} positions")
    out = np.zeros((o, kh, kw, slots), dtype=w.dtype)
    out[:, :, :, :c] = w.transpose(0, 2, 3, 1)
    return out.reshape(o, kh * kw * slots)


def map_columns(weight, shape, record_windows, window):
    """An FC layer's weights ``(O, C·H·W)`` over a flattened ``(C, H, W)`` map, as a
    matrix over that map in memory (an unpadded :class:`golden.contract.layout.MapLayout`
    read as one vector): column ``c·H·W + y·W + x`` to ``(y·W + x) * slots + c``."""
    w = np.asarray(weight)
    c, h, wd = shape
    slots = record_windows * window
    out = np.zeros((w.shape[0], h, wd, slots), dtype=w.dtype)
    out[:, :, :, :c] = w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1)
    return out.reshape(w.shape[0], h * wd * slots)


def pool_order(h, w, k, stride=None):
    """The patch order of max pooling on chip: for every pooled pixel of a
    ``k``×``k`` pool (``stride``, default ``k``) over an ``h``×``w`` map, in
    row-major order, the row-major indices of its ``k²`` pixels.  Returns
    ``(indices (H''·W''·k²,), (H'', W''))``; overlapping windows repeat pixels."""
    stride = stride or k
    ho, wo = out_size(h, k, stride, 0), out_size(w, k, stride, 0)
    if ho < 1 or wo < 1:
        raise ValueError(f"a {k}x{k} pool does not fit a {h}x{w} input")
    py, px, dy, dx = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(k), np.arange(k),
                                 indexing="ij")
    return ((py * stride + dy) * w + px * stride + dx).reshape(-1), (ho, wo)


def run_conv(layer, x, run_fc, pool=None, pool_size=2, pool_stride=None):
    """Run compressed conv ``layer`` on int16 ``x`` ``(C, H, W)`` through
    ``run_fc(model, vectors, pool=1) -> int16 (vectors / pool, O)`` (the
    accelerator, or ``golden.twins.infer.infer``): int16 ``(O, H', W')``.

    ``pool="max"``: max pooling (``pool_size``, ``pool_stride``) on chip — the
    patches go in :func:`pool_order` and ``run_fc`` max-combines every
    ``pool_size²`` consecutive outputs (``compile_model(..., pool=)``); equals
    ``max_pool(run_conv(layer, x, run_fc), pool_size, pool_stride)``.
    ``pool="avg"``: the average pool as a second conv layer on the accelerator
    (:func:`avg_pool_layer`) when ``pool_size²`` is a power of two, else on the
    host (:func:`avg_pool`); the two agree bit for bit."""
    from golden.contract.model import Model
    if pool not in (None,) + tuple(POOLS):
        raise ValueError(f"pool must be None or one of {', '.join(POOLS)}, not {pool!r}")
    o, c, kh, kw = layer.shape
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[0] != c:
        raise ValueError(f"layer {layer.name!r} takes ({c}, H, W) inputs, not {x.shape}")
    patches = im2col(x, kh, kw, layer.stride, layer.padding).astype(np.int16)
    ho = out_size(x.shape[1], kh, layer.stride, layer.padding)
    wo = out_size(x.shape[2], kw, layer.stride, layer.padding)
    if pool == "avg" and _avg_on_chip(pool_size):
        y = run_conv(layer, x, run_fc)
        return run_conv(avg_pool_layer(o, pool_size, layer.f_out, pool_stride), y, run_fc)
    fc = Model([as_fc(layer)])
    if pool == "max":
        order, (pho, pwo) = pool_order(ho, wo, pool_size, pool_stride)
        y = np.asarray(run_fc(fc, patches[order], pool=pool_size * pool_size))
        return y.T.reshape(o, pho, pwo).astype(np.int16)
    y = np.asarray(run_fc(fc, patches)).T.reshape(o, ho, wo).astype(np.int16)
    return avg_pool(y, pool_size, pool_stride) if pool == "avg" else y


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


def _avg_on_chip(k):
    return (k * k) & (k * k - 1) == 0


def avg_pool_layer(channels, k, f, stride=None, name="avgpool"):
    """Average pooling as a compressed conv layer the accelerator runs: weight 1
    at ``f_w = log2(k²)`` fractional bits from each channel to itself (a
    diagonal block mask of ``(1, 1, k, k)`` blocks: the NSM skips the other
    channels), no bias, ``f_in = f_out = f``, stride ``stride`` (default ``k``).
    Its output stage ``(s + k²/2) >> log2(k²)`` is :func:`avg_pool`'s
    ``floor(s / k² + 1/2)`` exactly, so only power-of-two windows qualify."""
    from golden.contract.model import Layer
    n = k * k
    if k < 1 or not _avg_on_chip(k):
        raise ValueError(f"pool_size {k}: average pooling runs on the accelerator only for "
                         f"k*k a power of two (1, 2, 4, ...), not {n}")
    book = np.zeros((1, 16), dtype=np.int16)
    book[0, 1] = 1
    return Layer(name=name, kind="conv", shape=(channels, channels, k, k), block=(1, 1, k, k),
                 bits=4, block_mask=np.eye(channels, dtype=bool)[:, :, None, None],
                 codes=np.ones(channels * n, dtype=np.int64), codebooks=book,
                 bias=np.zeros(channels, dtype=np.int32), f_in=f, f_w=n.bit_length() - 1,
                 f_out=f, zero_code=True, stride=stride or k, padding=0)


#: Pooling by name, for :func:`infer_cnn`.
POOLS = {"max": max_pool, "avg": avg_pool}


def infer_cnn(model, images, shape, run_fc=None, pool="max", pool_size=2):
    """Fixed-point inference of a LeNet-style compressed model: its conv layers,
    each followed by ``pool`` pooling (``pool_size``; :func:`run_conv`: on the
    accelerator), then its FC layers on the flattened ``(C, H, W)`` maps.
    ``images`` int16 ``(N, C·H·W)`` or ``(N, C, H, W)`` with ``shape = (C, H, W)``;
    ``run_fc(model, vectors, pool=1)`` runs one FC model (default: the golden
    :func:`golden.twins.infer.infer`; pass the accelerator's runner to run on the RTL).
    Returns int16 ``(N, outputs)``."""
    from golden.contract.model import Model
    from golden.twins.infer import infer
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
            h = run_conv(layer, h, run_fc, pool=pool, pool_size=pool_size)
        flat = h.reshape(1, -1)
        outs.append(run_fc(Model(fcs), flat)[0] if fcs else flat[0])
    return np.stack(outs).astype(np.int16)
