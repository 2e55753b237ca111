"""Convolution and pooling (golden/twins/conv.py): the direct golden convolution against
first principles, the patch (im2col) route the accelerator takes against it,
random conv layers on the RTL, and a LeNet-style CNN end to end."""

import numpy as np
import pytest

from golden.compiler import CompileError, compile_model, small_config
from golden.compression.pipeline import CompressConfig, compress_layer, compress_network
from golden.contract.model import Model, decompress
from golden.twins.conv import (
    as_fc,
    avg_pool,
    avg_pool_layer,
    conv2d,
    im2col,
    infer_cnn,
    max_pool,
    pool_order,
    run_conv,
)
from golden.twins.infer import infer
from tb.run import batches
from tb.sim.accel_sim import MemoryModel, run_accelerator


def _conv_layer(rng, o, c, k, stride, padding, sparsity, block=(2, 1, 1, 1), bits=4,
                activation="relu"):
    w = rng.normal(size=(o, c, k, k)) * 0.5
    cfg = CompressConfig(block_conv=block, sparsity_conv=sparsity, bits_conv=bits, steps=1)
    layer, _ = compress_layer("conv", w, rng.normal(size=o) * 0.2, "conv", cfg, f_in=8, f_out=8,
                              activation=activation, extra={"stride": stride, "padding": padding})
    return layer


def _image(rng, c, h, w, density=0.6):
    x = rng.integers(-300, 300, size=(c, h, w))
    x[rng.random(x.shape) > density] = 0
    return x.astype(np.int16)


def test_conv2d_hand_worked():
    # One 3x3 input, one 2x2 kernel of ones, stride 1, no padding, f = 0: window sums.
    x = np.arange(1, 10, dtype=np.int16).reshape(1, 3, 3)
    layer = {"name": "c", "weight": np.ones((1, 1, 2, 2), np.int16), "bias": np.zeros(1, np.int32),
             "f_in": 0, "f_w": 0, "f_out": 0, "activation": "identity", "stride": 1,
             "padding": 0}
    assert conv2d(layer, x).tolist() == [[[1 + 2 + 4 + 5, 2 + 3 + 5 + 6],
                                          [4 + 5 + 7 + 8, 5 + 6 + 8 + 9]]]
    # Padding 1, stride 2: the corners see the zero border.
    layer["padding"], layer["stride"] = 1, 2
    assert conv2d(layer, x).tolist() == [[[1, 2 + 3], [4 + 7, 5 + 6 + 8 + 9]]]


def test_im2col_patch_order():
    x = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    p = im2col(x, 2, 2, stride=1, padding=0)
    assert p.shape == (4, 8)
    # Output pixel (0, 1): channel 0 rows 0-1 cols 1-2, then channel 1.
    assert p[1].tolist() == [1, 2, 4, 5, 10, 11, 13, 14]
    with pytest.raises(ValueError, match="does not fit"):
        im2col(x, 5, 5)


def test_pooling_hand_worked():
    x = np.array([[[1, 2, -3, 4], [5, 6, 7, 8], [-1, -2, 0, 0], [-3, -5, 0, 1]]], np.int16)
    assert max_pool(x).tolist() == [[[6, 8], [-1, 1]]]
    # Averages 14/4 = 3.5 → 4, 16/4 = 4, -11/4 = -2.75 → -3, 1/4 = 0.25 → 0.
    assert avg_pool(x).tolist() == [[[4, 4], [-3, 0]]]
    assert max_pool(x, 3, 1).tolist() == [[[7, 8], [7, 8]]]


@pytest.mark.parametrize("seed", range(12))
def test_patch_route_equals_direct_convolution(seed):
    rng = np.random.default_rng(seed)
    k, stride, padding = [1, 3, 5][seed % 3], 1 + seed % 2, (seed // 2) % 2
    o, c = 3 + seed % 5, 1 + seed % 4
    block = (2, 1, 1, 1) if seed % 4 else (2, c, k, k)
    layer = _conv_layer(rng, o, c, k, stride, padding, [0.0, 0.5, 0.95][seed % 3], block)
    x = _image(rng, c, 7 + seed % 3, 6 + seed % 4)
    want = conv2d(decompress(Model([layer]))[0], x)
    np.testing.assert_array_equal(run_conv(layer, x, infer), want,
                                  err_msg=f"seed {seed}: k={k} s={stride} p={padding} "
                                          f"block={block}")


def test_pool_order_lists_each_window():
    # A 4x5 map, 2x2 pools of stride 2: two rows of two windows (the last column
    # is left out, floor mode); each window its four pixels, row-major.
    order, shape = pool_order(4, 5, 2)
    assert shape == (2, 2)
    assert order.reshape(4, 4).tolist() == [[0, 1, 5, 6], [2, 3, 7, 8],
                                             [10, 11, 15, 16], [12, 13, 17, 18]]
    order, shape = pool_order(3, 3, 2, 1)          # overlapping: pixels repeat
    assert shape == (2, 2) and order[:8].tolist() == [0, 1, 3, 4, 1, 2, 4, 5]


@pytest.mark.parametrize("k, stride", [(1, None), (2, None), (2, 1), (4, None), (4, 2)])
def test_avg_pool_layer_is_avg_pool(k, stride):
    """The accelerator's average pool (a diagonal conv layer) equals the golden
    average pool over the whole int16 range, through the direct convolution."""
    rng = np.random.default_rng(k * 10 + (stride or 0))
    y = rng.integers(-32768, 32768, size=(5, 9, 8)).astype(np.int16)
    y[0, :4, :4] = 32767                          # the saturation corner
    layer = avg_pool_layer(5, k, 7, stride)
    np.testing.assert_array_equal(conv2d(decompress(Model([layer]))[0], y),
                                  avg_pool(y, k, stride))
    with pytest.raises(ValueError, match="pool_size 3: .* power of two"):
        avg_pool_layer(5, 3, 7)


@pytest.mark.parametrize("seed", range(6))
def test_pooled_conv_equals_pool_of_conv(seed):
    """Pooling through the FC route (max: ``pool`` consecutive patches combined;
    avg: the diagonal conv layer, or the host for non-power-of-two windows)
    equals the golden pool of the direct convolution."""
    rng = np.random.default_rng(100 + seed)
    k, stride, padding = [1, 3, 5][seed % 3], 1 + seed % 2, seed % 2
    pk, ps = [(2, None), (3, 1), (2, 1)][seed % 3]
    layer = _conv_layer(rng, 3 + seed, 2, k, stride, padding, 0.5,
                        activation=["identity", "relu"][seed % 2])
    x = _image(rng, 2, 9, 10)
    conv = conv2d(decompress(Model([layer]))[0], x)
    for pool, golden_pool in (("max", max_pool), ("avg", avg_pool)):
        np.testing.assert_array_equal(run_conv(layer, x, infer, pool, pk, ps),
                                      golden_pool(conv, pk, ps), err_msg=f"seed {seed} {pool}")


def test_pool_is_validated():
    rng = np.random.default_rng(0)
    model = Model([as_fc(_conv_layer(rng, 4, 2, 3, 1, 1, 0.5))])
    x = np.zeros((6, 18), np.int16)
    with pytest.raises(CompileError, match="pool = 4: the 6 input vectors"):
        compile_model(model, small_config(2, 2), x, pool=4)
    with pytest.raises(CompileError, match="pool must be an integer >= 1"):
        compile_model(model, small_config(2, 2), x, pool=0)
    with pytest.raises(ValueError, match="pool must be None or one of max, avg"):
        run_conv(_conv_layer(rng, 4, 2, 3, 1, 1, 0.5), np.zeros((2, 5, 5), np.int16), infer,
                 pool="min")
    # A pooled layer must keep its outputs in one NBout half.
    wide = Model([as_fc(_conv_layer(rng, 40, 2, 1, 1, 0, 0.5))])
    with pytest.raises(CompileError, match="pool = 2 keeps .* nbout_bytes"):
        compile_model(wide, small_config(2, 2, nbout_bytes=128), np.zeros((2, 2), np.int16),
                      pool=2)


def test_unsupported_conv_block_is_refused():
    rng = np.random.default_rng(0)
    layer = _conv_layer(rng, 4, 4, 3, 1, 1, 0.5, block=(2, 2, 1, 1))
    with pytest.raises(CompileError, match=r"layer 'conv': parameter 'block' \(2, 2, 1, 1\)"):
        as_fc(layer)
    layer = _conv_layer(rng, 4, 4, 3, 1, 1, 0.5, block=(2, 1, 3, 1))
    with pytest.raises(CompileError, match="parameter 'block'"):
        as_fc(layer)
    # The compiler itself names the layer and the kind it cannot take directly.
    with pytest.raises(CompileError, match="layer 'conv': kind 'conv'"):
        compile_model(Model([layer]), small_config(2, 2), np.zeros((1, 36), np.int16))


def _on_rtl(cfg, dense, seed):
    def run(model, vectors, pool=1):
        outs = []
        for part in batches(model, vectors, cfg, dense, pool):
            program = compile_model(model, cfg, vectors[part], dense=dense, pool=pool)
            got, _, _ = run_accelerator(program, MemoryModel(latency=2, p_stall=0.1, seed=seed))
            outs.append(got)
        return np.concatenate(outs)
    return run


# (seed, tn, tm, out channels, in channels, kernel, stride, padding, sparsity, dense)
RTL_CONV = [
    (1, 2, 2, 5, 3, 3, 1, 1, 0.5, False),
    (2, 4, 4, 6, 3, 5, 2, 0, 0.9, False),
    (3, 2, 4, 7, 2, 1, 1, 0, 0.0, True),
    (4, 4, 2, 3, 5, 3, 2, 1, 0.95, False),
]


@pytest.mark.parametrize("case", RTL_CONV, ids=[f"seed{c[0]}" for c in RTL_CONV])
def test_conv_on_rtl_bit_exact(case):
    seed, tn, tm, o, c, k, stride, padding, sparsity, dense = case
    rng = np.random.default_rng(seed)
    layer = _conv_layer(rng, o, c, k, stride, padding, sparsity)
    x = _image(rng, c, 6, 6)
    want = conv2d(decompress(Model([layer]))[0], x)
    got = run_conv(layer, x, _on_rtl(small_config(tn, tm), dense, seed))
    np.testing.assert_array_equal(got, want, err_msg=f"replay: case {case}")


# (seed, tn, tm, out channels, in channels, kernel, stride, padding, pool, size, stride,
#  activation, dense)
RTL_POOL = [
    (5, 2, 2, 5, 3, 3, 1, 1, "max", 2, None, "identity", False),   # signed max
    (6, 4, 2, 6, 2, 3, 1, 0, "max", 3, 1, "relu", False),          # overlapping windows
    (7, 2, 4, 3, 2, 1, 1, 0, "max", 2, None, "identity", True),
    (8, 4, 4, 7, 2, 3, 1, 1, "avg", 2, None, "identity", False),   # avg as a conv layer
]


@pytest.mark.parametrize("case", RTL_POOL, ids=[f"seed{c[0]}-{c[8]}" for c in RTL_POOL])
def test_pooled_conv_on_rtl_bit_exact(case):
    seed, tn, tm, o, c, k, stride, padding, pool, pk, ps, act, dense = case
    rng = np.random.default_rng(seed)
    layer = _conv_layer(rng, o, c, k, stride, padding, 0.5, activation=act)
    x = _image(rng, c, 6, 7)
    conv = conv2d(decompress(Model([layer]))[0], x)
    want = {"max": max_pool, "avg": avg_pool}[pool](conv, pk, ps)
    got = run_conv(layer, x, _on_rtl(small_config(tn, tm), dense, seed), pool, pk, ps)
    np.testing.assert_array_equal(got, want, err_msg=f"replay: case {case}")
    assert (want < 0).any() or act == "relu"


def _lenet(rng, sparsity=0.5):
    """The digits CNN's structure with random weights: conv 3x3 1→8, pool 2,
    conv 3x3 8→16, pool 2, FC 64→10."""
    layers = [("conv1", rng.normal(size=(8, 1, 3, 3)) * 0.6, rng.normal(size=8) * 0.1,
               {"stride": 1, "padding": 1}),
              ("conv2", rng.normal(size=(16, 8, 3, 3)) * 0.25, rng.normal(size=16) * 0.1,
               {"stride": 1, "padding": 1}),
              ("fc", rng.normal(size=(10, 64)) * 0.3, rng.normal(size=10) * 0.1, {})]
    cfg = CompressConfig(block_fc=(2, 4), block_conv=(4, 1, 1, 1), sparsity_fc=sparsity,
                         sparsity_conv=sparsity, bits_fc=4, bits_conv=4, steps=1,
                         skip=("conv1",))
    model, _ = compress_network(layers, cfg)
    return model


def _digits(n):
    from sklearn.datasets import load_digits

    from golden.twins.infer import quantize_input
    return quantize_input(load_digits().data[:n] / 16.0, 8)


@pytest.mark.parametrize("dense", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_lenet_cnn_end_to_end_on_rtl(dense):
    """One digit through the CNN on the accelerator (Amaranth simulation)."""
    rng = np.random.default_rng(17)
    model = _lenet(rng)
    images = _digits(1)
    want = infer_cnn(model, images, (1, 8, 8))
    got = infer_cnn(model, images, (1, 8, 8), run_fc=_on_rtl(small_config(4, 4), dense, 17))
    np.testing.assert_array_equal(got, want, err_msg=f"seed 17 dense={dense}")
    assert got.shape == (1, 10) and np.abs(got).max() > 0


@pytest.mark.slow
@pytest.mark.cocotb
@pytest.mark.parametrize("dense", [False, True])
def test_lenet_cnn_end_to_end_on_verilog(tmp_path, dense):
    """The CNN on the generated Verilog (Verilator): one program for both images
    (the patches gathered on chip), then the host-im2col route on the same build."""
    from tb.run import run_cnn, run_cnn_im2col
    rng = np.random.default_rng(18)
    model = _lenet(rng)
    cfg = small_config(4, 4, nbin_bytes=4096, nibin_bytes=256, sb_bytes=4096)
    images = _digits(2)
    want = infer_cnn(model, images, (1, 8, 8))
    res = run_cnn(model, images, cfg, (1, 8, 8), dense=dense, sim="verilator",
                  workdir=tmp_path / "run")
    assert res["bit_exact"], res["mismatch"]
    assert res["programs"] == 1 and res["model_cycles"] == res["cycles"]
    np.testing.assert_array_equal(res["outputs"], want, err_msg="seed 18")
    old = run_cnn_im2col(model, images, cfg, (1, 8, 8), dense=dense, sim="verilator",
                         workdir=tmp_path / "run", runner=res["runner"])
    assert old["bit_exact"] and old["programs"] > 1, old["mismatch"]
    np.testing.assert_array_equal(old["outputs"], want, err_msg="seed 18, im2col")


@pytest.mark.cocotb
def test_tb_run_cli_runs_a_cnn_on_verilog(tmp_path):
    """`python -m tb.run` takes a model with conv layers given --input-shape."""
    import json
    import subprocess
    import sys

    from golden.contract.model import save
    rng = np.random.default_rng(23)
    layers = [("conv1", rng.normal(size=(4, 1, 3, 3)) * 0.6, rng.normal(size=4) * 0.1,
               {"stride": 1, "padding": 1}),
              ("fc", rng.normal(size=(5, 36)) * 0.3, rng.normal(size=5) * 0.1, {})]
    cfg = CompressConfig(block_fc=(2, 4), block_conv=(2, 1, 1, 1), sparsity_fc=0.5,
                         sparsity_conv=0.5, bits_fc=4, bits_conv=4, steps=1)
    model, _ = compress_network(layers, cfg)
    save(model, tmp_path / "cnn.npz")
    x = _image(rng, 1, 6, 6).reshape(1, 36)
    np.save(tmp_path / "x.npy", x)
    base = [sys.executable, "-m", "tb.run", str(tmp_path / "cnn.npz"), "--input",
            str(tmp_path / "x.npy"), "--tn", "2", "--tm", "2", "--sim", "icarus"]
    proc = subprocess.run(base, capture_output=True, text=True)
    assert proc.returncode == 2 and "--input-shape C,H,W" in proc.stderr
    proc = subprocess.run(base + ["--input-shape", "1,5,5"], capture_output=True, text=True)
    assert proc.returncode == 2 and "C*H*W = 36" in proc.stderr
    # A 3x3 patch of one-window records is 9 windows: NBin halves of 8 are too small.
    proc = subprocess.run(base + ["--input-shape", "1,6,6"], capture_output=True, text=True)
    assert proc.returncode == 2 and "parameter nbin_bytes" in proc.stderr, proc.stderr
    env = {**__import__("os").environ, "SPARSEGEN_BUILD": str(tmp_path / "b")}
    base += ["--input-shape", "1,6,6", "--nbin-bytes", "2048", "--nibin-bytes", "128"]
    for route, programs in (("on-chip", 1), ("im2col", 2)):
        proc = subprocess.run(base + ["--json", str(tmp_path / "r.json"), "--cnn-route", route,
                                      "--output", str(tmp_path / "y.npy")],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["bit_exact"] and report["cycles"] > 0, route
        assert report["programs"] == programs and report["route"] == route
        np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                      infer_cnn(model, x, (1, 6, 6)))
        if route == "on-chip":     # the model, exact, gives each layer its cycles
            assert report["model_cycles"] == report["cycles"]
            assert list(report["layer_cycles"]) == ["conv1", "fc"]
            assert sum(report["layer_cycles"].values()) <= report["cycles"]
