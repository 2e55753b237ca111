"""Whole CNNs as one program (golden/compiler/cnn.py): the map layout and its
patch gathers against im2col (first principles), random CNNs on the golden
machine against ``infer_cnn``, and on the RTL (Amaranth simulation) bit-exact,
with the performance model's cycles and the compiler's words moved."""

import numpy as np
import pytest

from golden.compiler import CompileError, compile_cnn, small_config
from golden.compression.pipeline import CompressConfig, compress_network
from golden.contract.isa import Op, Target, decode
from golden.contract.layout import MapLayout, MemoryImage, decode_vector
from golden.perf import perfmodel
from golden.twins.conv import gathered, im2col, infer_cnn, map_columns
from golden.twins.machine import run_program, unordered_reads
from tb.sim.accel_sim import MemoryModel, run_accelerator


def _cnn(rng, c_in, convs, fcs, sparsity=0.5, block_conv=(2, 1, 1, 1)):
    """A compressed CNN: ``convs`` = [(out channels, kernel, stride, padding)], then FC
    layers of ``fcs`` outputs (the first's inputs set by the caller's map size:
    ``fcs[0] = (outputs, inputs)``)."""
    layers, c = [], c_in
    for i, (o, k, s, p) in enumerate(convs):
        layers.append((f"conv{i + 1}", rng.normal(size=(o, c, k, k)) * 0.7 / np.sqrt(c * k),
                       rng.normal(size=o) * 0.1, {"stride": s, "padding": p}))
        c = o
    for i, (o, n) in enumerate(fcs):
        layers.append((f"fc{i + 1}", rng.normal(size=(o, n)) * 0.3, rng.normal(size=o) * 0.1, {}))
    cfg = CompressConfig(block_fc=(2, 4), block_conv=block_conv, sparsity_fc=sparsity,
                         sparsity_conv=sparsity, bits_fc=4, bits_conv=4, steps=1)
    model, _ = compress_network(layers, cfg)
    return model


def _images(rng, n, c, h, w, density=0.6):
    x = rng.integers(-200, 300, size=(n, c, h, w))
    x[rng.random(x.shape) > density] = 0
    return x.reshape(n, -1).astype(np.int16)


def _cfg(tn, tm, **kw):
    """Buffers for 3x3 patches of two-window records: NBin/NIBin halves of 20 windows."""
    W = 16 * tm if "window_k" not in kw else kw["window_k"] * tm
    return small_config(tn, tm, nbin_bytes=80 * W, nibin_bytes=5 * W, **kw)


def test_map_layout_by_hand():
    """A 3-channel 2x3 map, padding 1, windows of 32: a 4x5 grid of one-window
    records; the patch of output pixel (1, 2) of a 3x3 kernel at stride 1 is three
    runs of three records, a grid row (5 records) apart."""
    cfg = small_config(2, 2)                       # window 32, 32-bit words
    assert cfg.window == 32 and cfg.words["bitmap"] == 1 and cfg.words["nbin"] == 16
    image = MemoryImage(cfg.mem_width)
    m = MapLayout.allocate(image, cfg, 3, 2, 3, 1, dense=False)
    assert (m.grid, m.record_windows, m.slots, m.vec.n) == ((4, 5), 1, 32, 4 * 5 * 32)
    x = np.arange(1, 19, dtype=np.int16).reshape(3, 2, 3)
    g = m.to_grid(x)
    assert g[1, 1, :3].tolist() == [1, 7, 13] and g[0].sum() == 0 and g[:, 4].sum() == 0
    np.testing.assert_array_equal(m.from_grid(g), x)
    m.encode(image, cfg, x)
    np.testing.assert_array_equal(m.decode(image, cfg), x)
    # The border records are in memory, zero (a bitmap word each).
    assert all(image[m.vec.bm_addr + r] == 0 for r in (0, 4, 5, 19))
    p = m.patch(cfg, 1, 2, 3, 3, 1)
    assert (p.count, p.segments, p.bm_step, p.val_step) == (3, 3, 5, 80)
    assert (p.bm_addr, p.val_addr) == (m.vec.bm_addr + 7, m.vec.val_addr + 7 * 16)
    r = m.record(cfg, 1, 2)                        # grid (2, 3): record 13
    assert (r.n, r.bm_addr, r.val_addr) == (3, m.vec.bm_addr + 13, m.vec.val_addr + 13 * 16)
    with pytest.raises(ValueError, match="leaves the 4x5 padded grid"):
        m.patch(cfg, 2, 0, 3, 3, 1)


@pytest.mark.parametrize("c, k, stride, padding, windows", [(3, 3, 1, 1, 1), (5, 2, 2, 0, 1),
                                                            (40, 3, 2, 1, 2)])
def test_gathered_patches_compute_what_im2col_patches_do(c, k, stride, padding, windows):
    """First principles: per output pixel, the scattered weights against the
    gathered patch (the values the patch's LOADs bring, read from the encoded
    map in memory) equal the layer's weights against the im2col patch; and the
    FC view of a map read whole equals the FC on the flattened map."""
    rng = np.random.default_rng(c)
    cfg = small_config(2, 2, mem_width=32)          # window 32
    w = rng.integers(-5, 6, size=(4, c, k, k))
    x = rng.integers(-9, 10, size=(c, 5, 6)).astype(np.int16)
    image = MemoryImage(cfg.mem_width)
    m = MapLayout.allocate(image, cfg, c, 5, 6, padding, dense=False)
    assert m.record_windows == windows
    m.encode(image, cfg, x)
    grid = m.to_grid(x)
    patches = im2col(x, k, k, stride, padding)
    wg = gathered(w, m.record_windows, cfg.window)
    wo = (6 + 2 * padding - k) // stride + 1
    for pix, patch in enumerate(patches):
        oy, ox = divmod(pix, wo)
        g = m.patch(cfg, oy, ox, k, k, stride)
        # the values in memory at the gather's segments, decoded window by window
        got = np.concatenate([decode_vector(image, type(m.vec)(
            g.count * cfg.window, g.bm_addr + s * g.bm_step, g.val_addr + s * g.val_step), cfg)
            for s in range(g.segments)])
        np.testing.assert_array_equal(got, m.patch_values(grid, oy, ox, k, k, stride))
        assert (wg @ got.astype(np.int64)).tolist() == (w.reshape(4, -1) @ patch).tolist()
    fc = rng.integers(-5, 6, size=(3, c * 5 * 6))
    flat = MapLayout.allocate(image, cfg, c, 5, 6, 0, dense=False)
    v = flat.to_grid(x).reshape(-1)
    assert (map_columns(fc, (c, 5, 6), flat.record_windows, cfg.window) @ v).tolist() == \
        (fc @ x.reshape(-1)).tolist()


# (seed, tn, tm, image (C, H, W), convs [(O, k, stride, padding)], fc outputs, pool,
#  pool size, images, dense)
GOLDEN_CNNS = [
    (1, 4, 4, (1, 8, 8), [(6, 3, 1, 1), (10, 3, 1, 1)], [10], "max", 2, 2, False),
    (2, 2, 2, (3, 9, 9), [(5, 3, 2, 1), (7, 1, 1, 0)], [4], "max", 2, 1, False),
    (3, 4, 2, (2, 8, 8), [(9, 3, 1, 0)], [6, 3], "avg", 2, 2, False),
    (4, 2, 4, (3, 10, 9), [(5, 2, 2, 0), (6, 3, 1, 1)], [], "max", 2, 1, False),
    (5, 4, 4, (1, 8, 8), [(6, 3, 1, 1), (10, 3, 1, 1)], [10], "max", 2, 2, True),
    (6, 2, 2, (40, 6, 6), [(3, 3, 1, 1)], [5], "max", 3, 1, False),   # 2-window records
]


def _golden_case(case):
    seed, tn, tm, shape, convs, fcs, pool, pk, n, dense = case
    rng = np.random.default_rng(seed)
    c, h, w = shape
    for o, k, s, p in convs:
        h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        h, w = h // pk, w // pk
        c = o
    sizes, n_in = [], c * h * w
    for o in fcs:
        sizes.append((o, n_in))
        n_in = o
    model = _cnn(rng, shape[0], convs, sizes)
    x = _images(rng, n, *shape)
    cfg = _cfg(tn, tm, sb_bytes=16384) if dense else _cfg(tn, tm)
    return model, x, cfg


@pytest.mark.parametrize("case", GOLDEN_CNNS, ids=[f"seed{c[0]}" for c in GOLDEN_CNNS])
def test_random_cnns_as_one_program_on_the_golden_machine(case):
    seed, tn, tm, shape, convs, fcs, pool, pk, n, dense = case
    replay = f"replay: case {case}"
    model, x, cfg = _golden_case(case)
    program = compile_cnn(model, cfg, x, shape, pool=pool, pool_size=pk, dense=dense)
    got, machine = run_program(program)
    want = infer_cnn(model, x, shape, pool=pool, pool_size=pk)
    np.testing.assert_array_equal(got, want, err_msg=replay)
    assert np.abs(want).max() > 0, replay
    assert unordered_reads(program) == [], replay    # every LOAD after the STOREs it reads
    ops = [decode(wd)[0] for wd in program.words]
    assert ops.count(Op.END) == 1 and ops[-1] == Op.END, replay
    # The patches come through segmented LOADs, one per kernel row.
    segs = {decode(wd)[1]["segments"] for wd in program.words if decode(wd)[0] == Op.LOAD
            and decode(wd)[1]["target"] in (Target.NIB, Target.NBIN)}
    assert convs[0][1] in segs, replay
    # Only the images' maps depend on the images, given the tilings and the issue
    # order (the schedule stage orders by the model's cycles on these images):
    # the host writes nothing else.
    other = _images(np.random.default_rng(seed + 100), n, *shape)
    p2 = compile_cnn(model, cfg, other, shape, pool=pool, pool_size=pk, dense=dense,
                     tilings=program.tilings, schedule=program.schedule)
    assert p2.words == program.words, replay
    inputs = set()
    for lay in program.inputs:
        windows = lay.windows(cfg)
        inputs |= set(range(lay.val_addr, lay.val_addr + windows * cfg.words["nbin"]))
        if not dense:
            inputs |= set(range(lay.bm_addr, lay.bm_addr + windows * cfg.words["bitmap"]))
    differ = {a for a in set(program.image) | set(p2.image)
              if program.image.get(a, 0) != p2.image.get(a, 0)}
    assert differ and differ <= inputs, replay


def test_cnn_compile_errors_name_the_parameter():
    rng = np.random.default_rng(9)
    model = _cnn(rng, 1, [(4, 3, 1, 1)], [(3, 4 * 4 * 4)])
    x = _images(rng, 1, 1, 8, 8)
    cfg = _cfg(2, 2)
    with pytest.raises(CompileError, match="parameter 'pool' must be one of max, avg"):
        compile_cnn(model, cfg, x, (1, 8, 8), pool="min")
    with pytest.raises(CompileError, match="parameter 'pool_size'.*power of two"):
        compile_cnn(model, cfg, x, (1, 8, 8), pool="avg", pool_size=3)
    with pytest.raises(CompileError, match="images must be int16"):
        compile_cnn(model, cfg, x.astype(np.int32), (1, 8, 8))
    with pytest.raises(CompileError, match="takes 64 inputs, the map before it holds 4x2x2"):
        compile_cnn(model, cfg, x, (1, 8, 8), pool_size=4)
    with pytest.raises(CompileError, match="nbin_bytes"):     # 9 windows, halves of 8
        compile_cnn(model, small_config(2, 2), x, (1, 8, 8))


# (seed, tn, tm, image, convs, fc outputs, pool, pool size, images, dense, memory)
RTL_CNNS = [
    (11, 4, 4, (1, 8, 8), [(6, 3, 1, 1), (10, 3, 1, 1)], [10], "max", 2, 1, False),
    (12, 2, 2, (3, 9, 9), [(5, 3, 2, 1)], [4], "avg", 2, 2, False),
    # one-window patches of one group: a pool window's tiles one cycle apart
    # (COMPUTE.tiles, the forwarded NBout row)
    (14, 4, 4, (1, 6, 6), [(3, 1, 1, 0)], [4], "max", 2, 1, False),
    # ... one or two cycles apart (the row written the cycle before is forwarded too)
    (15, 4, 2, (8, 6, 6), [(3, 1, 1, 0)], [4], "max", 2, 1, False),
    pytest.param((13, 2, 4, (2, 6, 6), [(5, 3, 1, 1)], [3], "max", 2, 1, True),
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("case", RTL_CNNS, ids=["seed11", "seed12", "seed14", "seed15", "seed13"])
def test_cnn_program_on_rtl_bit_exact_cycle_exact(case):
    """A whole CNN as one program on the RTL: the outputs and every stage's maps
    as the golden machine has them, the cycles the performance model predicts,
    and the memory words moved those the compiler counts per stage."""
    replay = f"replay: case {case}"
    model, x, cfg = _golden_case(case)
    seed, tn, tm, shape, convs, fcs, pool, pk, n, dense = case
    program = compile_cnn(model, cfg, x, shape, pool=pool, pool_size=pk, dense=dense)
    if seed in (14, 15):
        assert any(decode(w)[1].get("tiles") == pk * pk for w in program.words
                   if decode(w)[0] == Op.COMPUTE), replay
    want, machine = run_program(program)
    got, counters, mem = run_accelerator(program, MemoryModel(latency=3))
    np.testing.assert_array_equal(got, want, err_msg=replay)
    np.testing.assert_array_equal(got, infer_cnn(model, x, shape, pool=pool, pool_size=pk),
                                  err_msg=replay)
    for row in program.activations:
        for lay in row:
            np.testing.assert_array_equal(decode_vector(mem, lay, cfg),
                                          decode_vector(machine.mem, lay, cfg), err_msg=replay)
    p = perfmodel.predict(program, {"latency": 3})
    assert (p["cycles"], p["compute_cycles"]) == (counters["cycles"],
                                                  counters["compute_cycles"]), replay
    fetch = len(program.words) * cfg.words["instruction"]
    moved = counters["mem_reads"] - fetch + counters["mem_writes"]
    assert moved == sum(t.words for t in program.tilings), replay
    # per stage: the words its LOADs and STOREs move (the model's, whose total is
    # the RTL's) are the compiler's figure for it
    per_stage = {}
    for s in perfmodel.work(program):
        if s.op in (Op.LOAD, Op.STORE):
            name = program.comments[s.index].split(":")[0]
            per_stage[name] = per_stage.get(name, 0) + s.words
    assert per_stage == {layer["name"]: t.words
                         for layer, t in zip(program.layers, program.tilings)}, replay


def test_compile_cli_compiles_a_cnn_into_one_program(tmp_path):
    import json
    import subprocess
    import sys

    from golden.contract.model import save
    rng = np.random.default_rng(21)
    model = _cnn(rng, 2, [(4, 3, 1, 1)], [(3, 4 * 3 * 3)])
    save(model, tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", _images(rng, 2, 2, 6, 6))
    base = [sys.executable, "-m", "golden.compile", tmp_path / "m.npz", "--tn", "2", "--tm",
            "2", "--input", tmp_path / "x.npy", "-o", tmp_path / "o", "--nbin-bytes", "2048",
            "--nibin-bytes", "128"]
    proc = subprocess.run(base, capture_output=True, text=True)
    assert proc.returncode == 2 and "give --input-shape C,H,W" in proc.stderr
    proc = subprocess.run(base + ["--input-shape", "2,6,5"], capture_output=True, text=True)
    assert proc.returncode == 2 and "C*H*W = 72" in proc.stderr
    proc = subprocess.run(base + ["--input-shape", "2,6,6", "--report"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "o" / "program.json").read_text())
    assert summary["ops"]["END"] == 1
    conv, fc = summary["layers"]
    assert (conv["kind"], conv["input_map"], conv["output_map"], conv["patches"]) == \
        ("conv", [2, 6, 6], [4, 3, 3], 2 * 36)
    assert fc["kind"] == "fc" and "conv1" in proc.stdout
    s = summary["schedule"]             # the schedule stage's figures, as printed
    assert s["cycles"] <= s["cycles_emitted"] and "order" not in s
    assert (f"schedule: {s['moved']} instructions moved, {s['cycles_emitted']} -> "
            f"{s['cycles']} cycles" if s["moved"] else "schedule: the emitted order") \
        in proc.stdout
    assert "segments=3" in (tmp_path / "o" / "program.lst").read_text()
