"""A whole LeNet-style CNN as one program: the accelerator reads each convolution's
patches from memory itself, so the host writes only the images and reads only
the results.

``compile_cnn(model, cfg, images, shape, pool="max", pool_size=2)``

Every feature map lives in memory in the map layout of
:mod:`golden.contract.layout` (:class:`~golden.contract.layout.MapLayout`: a
zero-bordered grid of pixel records, each a pixel's channels in whole NSM
windows), padded for the layer that reads it.  Per image the program runs, in
order, the *stages*:

* a **conv** layer: one vector per output pixel, its patch brought by a
  segmented LOAD pair (a :class:`~golden.contract.layout.Gather`: one segment
  per kernel row of ``kw`` records), in :func:`golden.twins.conv.pool_order`
  under max pooling (each pool window's tiles max-combined in NBout,
  ``COMPUTE.pool``); the (pooled) pixel's record STOREd into the next map.  The
  weights are the layer's, scattered to the patch's (kernel row, kernel column,
  channel slot) positions (:func:`golden.twins.conv.gathered`);
* average pooling (``pool="avg"``, ``pool_size²`` a power of two): a conv
  stage of :func:`golden.twins.conv.avg_pool_layer`;
* the FC layers, the first reading the last map as one vector (its weights'
  columns moved to the map's record order, :func:`golden.twins.conv.map_columns`).

Everything else — tiling per stage (:mod:`.tiling`), weight placement
(:mod:`.place`), emission and ``par`` marks (:mod:`.emit`), relocation — is the
FC compiler's.  The cost of the layout: a record takes whole windows, so a map
of ``C`` channels occupies ``ceil(C / window) * window`` positions per pixel
(and the NSM visits a window per record of a patch); the padding border is
stored.
"""

import numpy as np

from golden.contract.config import AccelConfig
from golden.contract.layout import MapLayout, MemoryImage, VectorLayout
from golden.contract.model import Model, decompress
from golden.twins.conv import (
    POOLS,
    as_fc,
    avg_pool_layer,
    conv2d,
    gathered,
    map_columns,
    max_pool,
    out_size,
    pool_order,
)

from .emit import Emitter, mark_par
from .place import Placement, place_layer, relocate
from .plan import CompileError, plan_layer
from .tiling import plan_reuse, vector_words

__all__ = ["compile_cnn", "cnn_stages"]


def cnn_stages(model, pool="max", pool_size=2):
    """The stages of a LeNet-style ``model``: ``[(layer, pool tiles)]`` — its conv
    layers (max pooling: ``pool_size²`` tiles per pooled pixel; average pooling: an
    :func:`~golden.twins.conv.avg_pool_layer` stage after each), then its FC layers."""
    if pool not in POOLS:
        raise CompileError(f"parameter 'pool' must be one of {', '.join(POOLS)}, not {pool!r}")
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise CompileError(f"parameter 'pool_size' must be a positive integer, not "
                           f"{pool_size!r}")
    convs = [layer for layer in model.layers if layer.kind == "conv"]
    if model.layers[:len(convs)] != convs:
        raise CompileError("the model's conv layers must come before its FC layers")
    if not convs:
        raise CompileError("the model has no conv layer: compile it with compile_model")
    stages = []
    for layer in convs:
        if pool == "max":
            stages.append((layer, pool_size * pool_size))
            continue
        stages.append((layer, 1))
        try:
            stages.append((avg_pool_layer(layer.shape[0], pool_size, layer.f_out,
                                          name=f"{layer.name}.avgpool"), 1))
        except ValueError as e:
            raise CompileError(f"parameter 'pool_size': {e}") from None
    return stages + [(layer, 1) for layer in model.layers[len(convs):]]


def _golden_stages(stages, decs, image, pool_size):
    """Per stage the golden output of one image: a ``(C, H, W)`` map or an FC vector."""
    from golden.twins.infer import infer
    outs, h = [], image
    for (layer, tiles), dec in zip(stages, decs):
        if layer.kind == "conv":
            h = conv2d(dec, h)
            if tiles > 1:
                h = max_pool(h, pool_size)
        else:
            h = infer(Model([layer]), np.asarray(h, dtype=np.int16).reshape(1, -1))[0]
        outs.append(h)
    return outs


def compile_cnn(model, cfg, images, shape, pool="max", pool_size=2, dense=False, tilings=None,
                schedule=True):
    """Compile LeNet-style ``model`` for ``cfg`` into one program over int16 ``images``
    ``(N, C·H·W)`` or ``(N, C, H, W)`` of ``shape = (C, H, W)``: a
    :class:`golden.compiler.Program` whose ``inputs`` are the images' maps (the
    host writes the images there), whose ``outputs`` are the last layer's
    vectors (or, for a model without FC layers, the last maps:
    ``Program.read_outputs``), and whose ``activations`` are every stage's output
    per image.  ``tilings``: another compile's ``program.tilings`` (the sparse
    one for its dense baseline) fixes each stage's strategy and blocks; ``schedule``:
    as :func:`golden.compiler.compile_model`'s."""
    from golden.compiler import Program, scheduled
    if not isinstance(cfg, AccelConfig):
        raise TypeError("cfg must be an AccelConfig")
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise CompileError(f"parameter 'shape' must be (C, H, W), not {shape!r}") from None
    images = np.asarray(images)
    if len(shape) != 3 or min(shape) < 1:
        raise CompileError(f"parameter 'shape' must be three positive sizes (C, H, W), not "
                           f"{shape}")
    if images.dtype != np.int16 or images.ndim not in (2, 4) or images.shape[0] == 0 or \
            images[0].size != int(np.prod(shape)):
        raise CompileError(f"images must be int16 (N, C*H*W) or (N, C, H, W) of shape "
                           f"{shape}, N >= 1, not {images.dtype} {images.shape}")
    images = images.reshape(len(images), *shape)
    stages = cnn_stages(model, pool, pool_size)
    decs = [decompress(Model([layer]))[0] for layer, _ in stages]
    if tilings is not None and len(tilings) != len(stages):
        raise CompileError(f"tilings has {len(tilings)} entries, the program {len(stages)} "
                           f"stages")

    # Geometry: each stage's input map (or vector) and its output.
    geo, (c, h, w) = [], shape
    for (layer, tiles), dec in zip(stages, decs):
        if layer.kind == "conv":
            o, ci, kh, kw = layer.shape
            if ci != c:
                raise CompileError(f"layer {layer.name!r} takes {ci} channels, its input "
                                   f"has {c}")
            s, p = layer.stride, layer.padding
            ho, wo = out_size(h, kh, s, p), out_size(w, kw, s, p)
            if ho < 1 or wo < 1:
                raise CompileError(f"layer {layer.name!r}: a {kh}x{kw} kernel with padding "
                                   f"{p} does not fit its {h}x{w} input")
            ph, pw = (out_size(ho, pool_size, pool_size, 0),
                      out_size(wo, pool_size, pool_size, 0)) if tiles > 1 else (ho, wo)
            if ph < 1 or pw < 1:
                raise CompileError(f"layer {layer.name!r}: a {pool_size}x{pool_size} pool "
                                   f"does not fit its {ho}x{wo} output")
            geo.append(dict(kind="conv", c=c, h=h, w=w, pad=p, out=(o, ho, wo), pooled=(ph, pw)))
            c, h, w = o, ph, pw
        else:
            geo.append(dict(kind="fc", n_in=dec["weight"].shape[1]))
            c, h, w = dec["weight"].shape[0], 1, 1

    # Plans: conv weights scattered to their patches' positions, the first FC's
    # columns to the last map's record order.
    plans, map_in = [], None
    for i, ((layer, _), dec, g) in enumerate(zip(stages, decs, geo)):
        if g["kind"] == "conv":
            rw = -(-g["c"] // cfg.window)
            plan = plan_layer(as_fc(layer), {**dec, "kind": "fc",
                                             "weight": gathered(dec["weight"], rw, cfg.window)},
                              cfg, dense)
            map_in = (g["out"][0], *geo[i]["pooled"])
        elif i > 0 and geo[i - 1]["kind"] == "conv":
            oc, mh, mw = map_in
            if oc * mh * mw != g["n_in"]:
                raise CompileError(f"layer {layer.name!r} takes {g['n_in']} inputs, the map "
                                   f"before it holds {oc}x{mh}x{mw}")
            rw = -(-oc // cfg.window)
            plan = plan_layer(layer, {**dec, "weight": map_columns(dec["weight"], (oc, mh, mw),
                                                                   rw, cfg.window)}, cfg, dense)
        else:
            if i > 0 and plans[-1].n_out != g["n_in"]:
                raise CompileError(f"layer {layer.name!r}: takes {g['n_in']} inputs, layer "
                                   f"{plans[-1].name!r} gives {plans[-1].n_out}")
            plan = plan_layer(layer, dec, cfg, dense)
        plans.append(plan)

    # Memory: per image its maps and vectors (inputs written, the rest zero), then
    # the weights stage by stage.
    data = MemoryImage(cfg.mem_width)
    acts, maps = [], []        # per image: each boundary's VectorLayout; its MapLayouts
    for img in images:
        row_maps = []
        for g in geo:
            if g["kind"] == "conv":
                row_maps.append(MapLayout.allocate(data, cfg, g["c"], g["h"], g["w"], g["pad"],
                                                   dense))
        g = geo[len(row_maps) - 1]          # the last conv stage's output: unpadded
        row_maps.append(MapLayout.allocate(data, cfg, g["out"][0], *g["pooled"], 0, dense))
        row_maps[0].encode(data, cfg, img)
        row = [m.vec for m in row_maps]
        for plan in plans[len(row_maps) - 1:]:
            row.append(VectorLayout.allocate(data, cfg, plan.n_out, dense))
        acts.append(row)
        maps.append(row_maps)

    # The vectors of each stage, their words (the tiling's traffic) and where they go.
    goldens = [_golden_stages(stages, decs, img, pool_size) for img in images]
    ios, in_words, out_words = [], [], []
    for si, ((layer, tiles), g) in enumerate(zip(stages, geo)):
        io, wi, wo_ = [], [], []
        for n, img in enumerate(images):
            prev = img if si == 0 else goldens[n][si - 1]
            if g["kind"] == "conv":
                src_map, dst_map = maps[n][si], maps[n][si + 1]
                grid = src_map.to_grid(prev)
                dst_grid = dst_map.to_grid(goldens[n][si])
                kh, kw, s = layer.shape[2], layer.shape[3], layer.stride
                o, ho, wo = g["out"]
                if tiles > 1:
                    order, (ph, pw) = pool_order(ho, wo, pool_size)
                else:
                    order, (ph, pw) = np.arange(ho * wo), (ho, wo)
                for k, pix in enumerate(order):
                    oy, ox = divmod(int(pix), wo)
                    py, px = divmod(k // tiles, pw)
                    io.append((src_map.patch(cfg, oy, ox, kh, kw, s),
                               dst_map.record(cfg, py, px)))
                    wi.append(vector_words(src_map.patch_values(grid, oy, ox, kh, kw, s),
                                           cfg, dense))
                    if k % tiles == 0:
                        rec = dst_grid[py + dst_map.pad, px + dst_map.pad]
                        wo_.append(vector_words(rec, cfg, dense))
            else:
                src = acts[n][si]
                values = (maps[n][-1].to_grid(prev).reshape(-1) if isinstance(prev, np.ndarray)
                          and prev.ndim == 3 else np.asarray(prev))
                io.append((src, acts[n][si + 1]))
                wi.append(vector_words(values, cfg, dense))
                wo_.append(vector_words(np.asarray(goldens[n][si]), cfg, dense))
        ios.append(io)
        in_words.append(wi)
        out_words.append(wo_)
    tiles_of = [t for _, t in stages]
    tilings = [plan_reuse(plan, cfg, in_words[i], out_words[i], dense, pool=tiles_of[i],
                          like=tilings[i] if tilings else None)
               for i, plan in enumerate(plans)]
    placement = Placement(data, acts)
    placement.layers = [place_layer(data, plan, cfg, tilings[i], tiles_of[i])
                        for i, plan in enumerate(plans)]

    em = Emitter(cfg, dense)
    info = []
    for si, (plan, lay) in enumerate(zip(plans, placement.layers)):
        entry = em.layer(si, plan, lay, ios[si], tiles_of[si], tilings[si])
        g = geo[si]
        entry["kind"] = g["kind"]
        if g["kind"] == "conv":
            entry.update(input_map=[g["c"], g["h"], g["w"]], padding=g["pad"],
                         output_map=[g["out"][0], *g["pooled"]],
                         record_windows=-(-g["c"] // cfg.window),
                         patches=len(ios[si]))
        info.append(entry)
    em.emit("END", "done")
    words = mark_par(em.words)
    if len(words) > cfg.ib_depth:
        raise CompileError(f"the program has {len(words)} instructions, the instruction "
                           f"buffer holds {cfg.ib_depth} (parameter ib_bytes)")
    words, image = relocate(words, placement, cfg)
    last_maps = [row[-1] for row in maps] if stages[-1][0].kind == "conv" else None
    program = Program(cfg=cfg, dense=dense, words=words, comments=em.comments, image=image,
                      prog_addr=0, inputs=[row[0] for row in acts],
                      outputs=[row[-1] for row in acts], layers=info, activations=acts,
                      tilings=tilings, output_maps=last_maps)
    return scheduled(program, schedule)
