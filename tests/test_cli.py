"""Bad input to every command: one error line naming the problem, exit status 2,
no traceback, nothing written — and the fixes behind it (pruning that never
empties a layer, atomic outputs, the host's replies and frame reader)."""

import importlib
import json
import os
import re
import zipfile

import numpy as np
import pytest

from golden.compression.pipeline import CompressConfig, compress_network
from golden.contract.model import save


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small valid model, inputs, and the bad files the table below refers to."""
    d = tmp_path_factory.mktemp("errors")
    rng = np.random.default_rng(0)
    layers = [("fc1", rng.normal(size=(16, 24)) * 0.3, rng.normal(size=16) * 0.1, {}),
              ("fc2", rng.normal(size=(8, 16)) * 0.3, None, {})]
    model, _ = compress_network(layers, CompressConfig(block_fc=(4, 4), sparsity_fc=0.5,
                                                       steps=1))
    save(model, d / "model.npz")
    np.save(d / "x.npy", rng.integers(-200, 200, size=(2, 24)).astype(np.int16))
    cnn, _ = compress_network(
        [("conv1", rng.normal(size=(3, 1, 2, 2)), rng.normal(size=3) * 0.1,
          {"stride": 2, "padding": 1}),
         ("fc", rng.normal(size=(4, 3)) * 0.5, rng.normal(size=4) * 0.1, {})],
        CompressConfig(block_fc=(2, 1), block_conv=(1, 1, 1, 1), sparsity_fc=0.3,
                       sparsity_conv=0.3, steps=1))
    save(cnn, d / "cnn.npz")
    np.save(d / "xc.npy", rng.integers(-200, 200, size=(2, 16)).astype(np.int16))
    np.save(d / "empty.npy", np.zeros((0, 24), dtype=np.int16))
    np.savez(d / "x.npz", x=np.zeros((2, 24), dtype=np.int16))
    (d / "garbage.npz").write_bytes(b"not a model at all")
    (d / "afile").write_text("x")
    (d / "bad_table.json").write_text('{"entries": {"dram": 1}}')
    (d / "neg_table.json").write_text('{"entries": {"dram_32b": -5}}')
    (d / "adir").mkdir()

    def weights(name, **arrays):
        np.savez(d / name, **arrays)
    w = rng.normal(size=(16, 32))
    weights("ok.npz", **{"a.weight": w})
    np.save(d / "weights.npy", w)
    weights("zero_dim.npz", **{"a.weight": np.zeros((0, 4))})
    weights("huge_weight.npz", **{"a.weight": np.where(np.eye(16, 32) > 0, 1.7e308, w)})
    weights("nan_bias.npz", **{"a.weight": w, "a.bias": np.full(16, np.nan)})
    weights("inf_bias.npz", **{"a.weight": w, "a.bias": np.full(16, np.inf)})
    weights("huge_bias.npz", **{"a.weight": w, "a.bias": np.full(16, 1e30)})
    conv = rng.normal(size=(8, 2, 3, 3))
    weights("stride_vector.npz", **{"c.weight": conv, "c.stride": np.array([1, 2])})
    weights("stride_fraction.npz", **{"c.weight": conv, "c.stride": np.array(1.7)})
    weights("stride_zero.npz", **{"c.weight": conv, "c.stride": np.array(0)})
    weights("padding_big.npz", **{"c.weight": conv, "c.padding": np.array(3)})
    weights("fc_stride.npz", **{"a.weight": w, "a.stride": np.array(1)})
    weights("chain.npz", **{"a.weight": w, "b.weight": rng.normal(size=(4, 15))})
    weights("fc_then_conv.npz", **{"a.weight": w, "c.weight": conv})
    weights("small.npz", **{"a.weight": rng.normal(size=(8, 16))})
    # A zip member whose CRC no longer matches (a stored, uncompressed member).
    with zipfile.ZipFile(d / "badcrc.npz", "w", zipfile.ZIP_STORED) as z:
        import io
        buf = io.BytesIO()
        np.save(buf, w)
        z.writestr("a.weight.npy", buf.getvalue())
    raw = bytearray((d / "badcrc.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF                        # a byte of the array's data
    (d / "badcrc.npz").write_bytes(bytes(raw))
    return d


def _cases():
    M, X = "{d}/model.npz", "{d}/x.npy"
    C, XC = "{d}/cnn.npz", "{d}/xc.npy"
    c = "golden.compress"
    cases = [
        # golden.compression.pipeline: the weights file, the network, the options, the outputs
        (c, ["{d}/weights.npy", "-o", "{t}/m.npz"], "not an .npz archive"),
        (c, ["{d}/badcrc.npz", "-o", "{t}/m.npz"], "array 'a.weight' cannot be read"),
        (c, ["{d}/zero_dim.npz", "-o", "{t}/m.npz"], r"a.weight has a zero-size dimension"),
        (c, ["{d}/huge_weight.npz", "-o", "{t}/m.npz"], r"holds 1.7e\+308 at \[0, 0\]"),
        (c, ["{d}/nan_bias.npz", "-o", "{t}/m.npz"], "a.bias holds NaN or infinite"),
        (c, ["{d}/inf_bias.npz", "-o", "{t}/m.npz"], "a.bias holds NaN or infinite"),
        (c, ["{d}/huge_bias.npz", "-o", "{t}/m.npz"], r"layer 'a': bias 1e\+30 of output 0 "
                                                      r"does not fit int32"),
        (c, ["{d}/stride_vector.npz", "-o", "{t}/m.npz"], r"c.stride must be one integer"),
        (c, ["{d}/stride_fraction.npz", "-o", "{t}/m.npz"], r"c.stride must be an integer, "
                                                            r"not 1.7"),
        (c, ["{d}/stride_zero.npz", "-o", "{t}/m.npz"], r"c.stride must be in 1..16, not 0"),
        (c, ["{d}/padding_big.npz", "-o", "{t}/m.npz"], r"layer 'c': padding must be an "
                                                        r"integer in 0..2 .*not 3"),
        (c, ["{d}/fc_stride.npz", "-o", "{t}/m.npz"], "only conv layers"),
        (c, ["{d}/chain.npz", "-o", "{t}/m.npz"], r"layer 'b': takes 15 inputs but layer "
                                                  r"'a' gives 16"),
        (c, ["{d}/fc_then_conv.npz", "-o", "{t}/m.npz"], "a conv layer after the FC layer 'a'"),
        (c, ["{d}/small.npz", "-o", "{t}/m.npz"], r"layer 'a': block \(16, 16\) covers the "
                                                  r"whole layer \(8, 16\)"),
        (c, ["{d}/ok.npz", "-o", "{d}/adir"], "-o/--output .*adir: is a directory"),
        (c, ["{d}/ok.npz", "-o", "{d}/nowhere/m.npz"], "directory .*nowhere does not exist"),
        (c, ["{d}/ok.npz", "-o", "{t}/m.npz", "--report", "{d}/afile"], "--report .*: is a file"),
        (c, ["{d}/ok.npz", "-o", "{t}/m.npz", "--bits-fc", "12"], "bits-fc must be 1..8"),
        (c, ["{d}/ok.npz", "-o", "{t}/m.npz", "--sparsity", "1"],
         r"--sparsity must be in \[0, 1\)"),
        # golden.compile
        ("golden.compile", [M, "--input", "{d}/empty.npy", "-o", "{o}"], "holds no vector"),
        ("golden.compile", [M, "--input", "{d}/x.npz", "-o", "{o}"], r"--input .*x.npz: an .npz"),
        ("golden.compile", [M, "--input", X, "-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("golden.compile", ["{d}/garbage.npz", "-o", "{o}"], r"garbage.npz: no sparsegen checksum"),
        ("golden.compile", [M, "--tn", "3", "-o", "{o}"], "tn must be a power of two"),
        ("golden.compile", [M, "--profile", "icebreaker", "--tn", "8", "--compact", "-o", "{o}"],
         r"--profile icebreaker names a whole configuration: drop --tn, --compact$"),
        ("golden.compile", [M, "--profile", "upduino", "-o", "{o}"], r"--profile: invalid choice"),
        ("golden.compile", [M, "--activations", "relu,gelu", "-o", "{o}"],
         r"--activations: a comma-separated list of identity, relu, sigmoid, tanh, not "
         r"'relu,gelu'"),
        # tb.run: every check before the Verilog is generated
        ("tb.run", [M, "--input", "{d}/empty.npy"], "holds no vector"),
        ("tb.run", [M, "--input", "{d}/x.npz"], "an .npz archive"),
        ("tb.run", [M, "--input", X, "--json", "{d}/nowhere/r.json"], "--json .* does not exist"),
        ("tb.run", [M, "--input", X, "--output", "{d}/adir"], "--output .*: is a directory"),
        ("tb.run", [M, "--input", X, "--p-stall", "1.5"], r"--p-stall must be in \[0, 1\)"),
        ("tb.run", [M, "--input", X, "--tn", "16", "--tm", "2", "--window-k", "4"],
         r"tn must be at most the window 4 \* tm = 8"),
        ("tb.run", ["{d}/garbage.npz", "--input", X], "no sparsegen checksum"),
        # a model with conv layers (one program per batch of images)
        ("golden.compile", [C, "--input", XC, "-o", "{o}"], "give --input-shape C,H,W"),
        ("golden.compile", [C, "--input", XC, "-o", "{o}", "--input-shape", "1,4,5"],
         r"--input-shape must be C,H,W with C\*H\*W = 16 .*not '1,4,5'"),
        ("golden.compile", [C, "--input", XC, "-o", "{o}", "--input-shape", "1,4,4", "--pool",
                            "avg", "--pool-size", "3"], "parameter 'pool_size'.*power of two"),
        ("tb.run", [C, "--input", XC, "--input-shape", "1,4,4", "--pool-size", "0"],
         "--pool-size must be at least 1"),
        ("boards.host", [C, "--input", XC, "--port", "1"], "give --input-shape C,H,W"),
        ("boards.host", [C, "--input", XC, "--port", "1", "--input-shape", "4,4"],
         r"--input-shape must be C,H,W \(three positive integers\), not '4,4'"),
        # boards.host: every check before the port is opened
        ("boards.host", [M, "--input", X, "--port", "1", "--run-timeout", "0"],
         "--run-timeout must be a positive number of seconds, not 0.0"),
        ("boards.host", [M, "--input", "{d}/x.npz", "--port", "1"], "an .npz archive"),
        ("boards.host", [M, "--input", X, "--port", "1", "-o", "{d}/nowhere/y.npy"],
         "does not exist"),
        ("boards.host", [M, "--input", X, "--port", "{d}/no-such-tty"], "--port"),
        # the HDL and the boards
        ("hdl.generate", ["pefu", "--tm", "3", "-o", "{o}"], "tm must be a power of two"),
        ("hdl.generate", ["pefu", "-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("hdl.synth", ["{d}/adir", "-o", "{o}"], "no generated modules"),
        ("hdl.synth", ["{d}/adir", "--jobs", "0"], "--jobs: must be a positive integer"),
        ("hdl.formal", ["nosuch"], "unknown proof"),
        ("hdl.formal", ["nsm", "-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("boards.build", ["nosuch"], "invalid choice: 'nosuch'"),
        ("boards.build", ["ulx3s", "-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("boards.build", ["ulx3s", "--tn", "3", "-o", "{d}/b"], "tn must be a power of two"),
        ("boards.build", ["ulx3s", "--window-k", "6", "-o", "{d}/b"],
         r"--window-k: invalid choice: 6 \(choose from 4, 8, 16\)"),
        ("boards.build", ["ulx3s", "--tn", "16", "--window-k", "4", "-o", "{d}/b"],
         r"tn must be at most the window 4 \* tm = 8"),
        ("boards.build", ["ulx3s", "--clock-mhz", "0", "-o", "{d}/b"],
         "--clock-mhz must be positive"),
        ("boards.build", ["ulx3s", "--clock-mhz", "1", "-o", "{d}/b"],
         "no ECP5 PLL setting gives 1 MHz"),
        ("boards.build", ["ulx3s", "--seeds", "1,x", "-o", "{d}/b"],
         "--seeds: must be distinct positive integers"),
        ("boards.build", ["ulx3s", "--seeds", "2,2", "-o", "{d}/b"],
         "--seeds: must be distinct positive integers"),
        ("boards.build", ["ulx3s", "--seeds", "1,2", "--nextpnr-opts=--seed 3", "-o", "{d}/b"],
         "--seeds and a --seed in --nextpnr-opts exclude each other"),
        ("boards.build", ["ulx3s", "--nextpnr-opts=--seed 2 --report x.json", "-o", "{d}/b"],
         "--nextpnr-opts may not set --report"),
        ("boards.sim", ["--port", "70000"], "--port must be in 1..65535, not 70000"),
        ("boards.sim", ["--tn", "3"], "tn must be a power of two"),
        ("boards.sim", ["--connections", "0"], "--connections: must be a positive integer"),
        # golden.energy, and the energy table of the bench and the demo
        ("golden.energy", [], "give a MODEL file"),
        ("golden.energy", ["{d}/garbage.npz"], "no sparsegen checksum"),
        ("golden.energy", [M, "--density", "0"], r"--density must be in \(0, 1\], not 0.0"),
        ("golden.energy", [M, "--energy-table", "{d}/bad_table.json"],
         r"bad_table.json: unknown entry 'dram' \(allowed: dram_32b, "),
        ("golden.energy", [M, "--energy-table", "{d}/neg_table.json"],
         "entry 'dram_32b' must be a positive number of pJ"),
        ("golden.energy", [M, "--energy-table", "{d}/afile"], "afile: not JSON"),
        ("golden.energy", [M, "--json", "{d}/nowhere/e.json"], "--json .* does not exist"),
        ("golden.energy", [M, "--tm", "3"], "tm must be a power of two"),
        ("golden.energy", [M, "--input", "{d}/x.npz"], r"--input .*x.npz: an .npz archive"),
        ("tb.bench", ["--energy-table", "{d}/bad_table.json", "-o", "{o}"], "unknown entry"),
        ("tb.demo", ["--energy-table", "{d}/neg_table.json", "-o", "{o}"],
         "entry 'dram_32b' must be a positive number"),
        # the tools in tb/ and the data
        ("golden.digits", ["--sparsity", "1.5"], r"--sparsity must be in \[0, 1\)"),
        ("golden.digits", ["-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("tb.demo", ["--images", "0"], "--images must be in 1..360"),
        ("tb.demo", ["--tm", "3", "-o", "{o}"], "tm must be a power of two"),
        ("tb.demo", ["-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("tb.bench", ["-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("tb.bench", ["--sim", "spice"], "argument --sim: must be one of icarus, verilator"),
        ("tb.regress", ["--seeds", "0"], "--seeds: must be a positive integer"),
        ("tb.regress", ["--only", "nope"], "unknown module"),
        ("tb.regress", ["-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("tb.runner", ["pefu", "--tm", "6"], "tm must be a power of two"),
        ("tb.runner", ["pefu", "--seed", "-1"], "--seed: must be an integer >= 0"),
        ("tb.simspeed", ["-o", "{d}/afile"], "-o/--output .*: is a file"),
        ("tb.bench_datapath", ["--tm", "3", "-o", "{o}"], "--tm must be a power of two"),
        ("tb.bench_datapath", ["--windows", "0"], "--windows: must be a positive integer"),
        ("hdl.estimate", ["--tm", "4", "--window", "24"], "--window must be k \\* tm"),
        ("hdl.estimate", ["--profile", "thesis", "--window", "256"],
         "--profile names a whole configuration"),
        ("hdl.estimate", ["--widths", "4,12"],
         "argument --widths: must be a comma-separated subset of 4,8,16"),
        ("hdl.estimate", ["--tn", "3"], "tn must be a power of two"),
        ("hdl.estimate", ["--profile", "icebreaker", "--tn", "2"],
         "--profile names a whole configuration: drop --tn"),
        ("hdl.estimate", ["--family", "asic"], "argument --family: invalid choice"),
        ("hdl.estimate", ["--json", "{d}/adir"], "--json .*: is a directory"),
        ("tb.sweep", ["--window-k", "5", "-o", "{o}"], "--window-k values must be from"),
        ("tb.sweep", ["--widths", "4,12", "-o", "{o}"], "--widths must be a subset of 4,8,16"),
        ("tb.sweep", ["--workloads", "resnet", "-o", "{o}"], "--workloads must be from"),
        ("tb.sweep", ["--tn", "3", "--tm", "3", "-o", "{o}"],
         "the grid holds no valid configuration"),
        ("tb.sweep", ["--tn", "x", "-o", "{o}"], "--tn must be comma-separated integers"),
        ("tb.sweep", ["-o", "{d}/afile"], "-o/--output .*: is a file"),
    ]
    return [pytest.param(*case, id=f"{case[0]}-{k}") for k, case in enumerate(cases)]


@pytest.mark.parametrize("module, args, message", _cases())
def test_bad_input_is_one_line_exit_2_nothing_written(files, tmp_path, capsys, monkeypatch,
                                                      module, args, message):
    out = tmp_path / "out"
    argv = [a.format(d=files, o=out, t=tmp_path) for a in args]
    before = sorted(p for p in files.rglob("*"))
    monkeypatch.chdir(tmp_path)                    # default output directories land here
    main = importlib.import_module(module if module != "golden.compile"
                                   else "golden.compiler").main
    try:
        status = main(argv)
    except SystemExit as e:                        # argparse's own errors
        status = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, (module, argv, err)
    assert len(err) == 1, err
    prog = f"python -m {module}"
    assert err[0].startswith(prog) and ": error: " in err[0], err
    assert re.search(message, err[0]), err[0]
    assert sorted(p for p in files.rglob("*")) == before
    assert not out.exists() and not list(tmp_path.iterdir()), list(tmp_path.rglob("*"))


# --- the fixes behind the table --------------------------------------------------------

def test_pruning_never_removes_the_whole_layer_below_sparsity_one():
    from golden.compression.prune import prune, sparsity
    rng = np.random.default_rng(3)
    # Two blocks at 90 %: the nearest count is both blocks; one must stay.
    for shape, block in (((16, 32), (16, 16)), ((8, 16), (4, 16)), ((3, 5), (2, 4))):
        w = rng.normal(size=shape)
        for target in (0.6, 0.9, 0.99):
            mask, bm = prune(w, block, target)
            assert bm.any() and mask.any(), (shape, block, target)
            assert sparsity(mask) < 1
    mask, bm = prune(rng.normal(size=(16, 32)), (16, 16), 1.0)
    assert not bm.any()                            # only an explicit 1 empties it


def test_small_layers_keep_weights_with_default_options(capsys):
    rng = np.random.default_rng(4)
    layers = [("fc1", rng.normal(size=(16, 32)), None, {}),
              ("fc2", rng.normal(size=(8, 16)), None, {})]
    cfg = CompressConfig(block_fc=(8, 8))     # 8 blocks in fc1, 2 in fc2; default 90 %
    model, report = compress_network(layers, cfg)
    fc1, fc2 = report["layers"]
    assert fc1["sparsity"] == 7 / 8 and fc2["sparsity"] == 1 / 2     # nearest whole blocks
    assert all(layer.block_mask.any() for layer in model.layers)
    # 90 % cannot be reached with two blocks: the report says so.
    assert fc2["warnings"] == ["layer 'fc2': sparsity 50.0 % instead of the target 90.0 %: its "
                               "2 blocks of (8, 8) are too coarse for it"]
    assert fc1["warnings"] == []


def test_a_huge_block_is_one_partial_block_not_a_huge_array():
    from golden.compression.prune import prune
    w = np.random.default_rng(5).normal(size=(16, 32))
    m1, b1 = prune(w, (10 ** 9, 1), 0.5)
    m2, b2 = prune(w, (16, 1), 0.5)
    assert (m1 == m2).all() and (b1 == b2).all()


def test_an_outlier_that_zeroes_most_weights_is_warned_about(tmp_path, capsys):
    from golden.compression.pipeline import main
    w = np.random.default_rng(6).normal(size=(16, 32)) * 0.05
    w[3, 7] = 3e4
    np.savez(tmp_path / "w.npz", **{"fc1.weight": w})
    assert main([str(tmp_path / "w.npz"), "-o", str(tmp_path / "m.npz"),
                 "--block-fc", "4,4", "--bits-fc", "8"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"python -m golden.compress: warning: layer 'fc1': \d+ % of its kept "
                     r"weights quantize to 0: the largest \|w\|, 30000, leaves f_w = 0", err), err


def test_atomic_write_keeps_the_old_file_on_failure_and_uses_the_umask(tmp_path, monkeypatch):
    from golden.cli import atomic_write
    target = tmp_path / "report.json"
    target.write_text("old")
    atomic_write(target, "new")
    assert target.read_text() == "new"
    mask = os.umask(0o022)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "no space")))
    with pytest.raises(OSError):
        atomic_write(target, "half")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]   # no temporary left


def test_model_files_get_the_usual_permissions(files):
    mask = os.umask(0o022)
    os.umask(mask)
    assert (files / "model.npz").stat().st_mode & 0o777 == 0o666 & ~mask


def test_generate_all_writes_nothing_when_one_module_fails(tmp_path, capsys, monkeypatch):
    import hdl.generate as gen
    real, seen = gen.convert, []

    def failing(name, component):
        seen.append(name)
        if len(seen) == 5:
            raise ValueError(f"{name}: cannot convert")
        return real(name, component)
    monkeypatch.setattr(gen, "convert", failing)
    assert gen.main(["all", "--tn", "2", "--tm", "2", "-o", str(tmp_path / "v")]) == 2
    assert len(seen) == 5
    assert not (tmp_path / "v").exists()
    assert "cannot convert" in capsys.readouterr().err


def test_output_paths_are_checked():
    from golden.cli import UsageError, output_dir, output_file
    with pytest.raises(UsageError, match="is a file, so the directory cannot be made"):
        output_dir("/proc/version/x", "-o")
    with pytest.raises(UsageError, match="directory /nonexistent does not exist"):
        output_file("/nonexistent/y.npy", "--output")


# --- the host tool ------------------------------------------------------------------------

class _FakePort:
    """A serial port that answers each frame written with the next canned reply."""

    def __init__(self, replies):
        self.replies, self.timeout, self.pending = list(replies), 0.01, b""

    def write(self, data):
        self.pending += self.replies.pop(0) if self.replies else b""

    def read(self, n):
        data, self.pending = self.pending[:n], self.pending[n:]
        return data


def _info(cfg, mem_words=1024, max_payload=512):
    from boards.protocol import Type, encode_info, frame
    return frame(Type.INFO, encode_info(cfg, mem_words, max_payload))


def test_host_rejects_a_board_whose_payload_cannot_hold_a_word():
    from boards.host import Board
    from boards.protocol import ProtocolError
    from golden.contract.config import small_config
    cfg = small_config(2, 2)
    with pytest.raises(ProtocolError, match="max_payload 7 bytes, less than a WRITE of one "
                                            "32-bit word needs \\(8\\)"):
        Board(_FakePort([_info(cfg, max_payload=7)]), reply_timeout=0.2).ping()


def test_host_rejects_a_short_done_reply():
    from boards.host import Board
    from boards.protocol import ProtocolError, Type, frame
    from golden.contract.config import small_config
    board = Board(_FakePort([_info(small_config(2, 2)), frame(Type.DONE, b"\x01\x02\x03")]),
                  reply_timeout=0.2)
    board.ping()
    with pytest.raises(ProtocolError, match="DONE of 3 bytes, expected 28"):
        board.run(0, 5)


def test_reader_keeps_a_good_frame_before_a_bad_one_and_resyncs_after_a_bad_len():
    from boards.protocol import FrameReader, Type, frame
    good1, good2 = frame(Type.ACK), frame(Type.DATA, b"\x01\x02\x03\x04")
    bad = bytearray(frame(Type.DATA, b"abcd"))
    bad[-1] ^= 1
    reader = FrameReader()
    assert reader.feed(good1 + bytes(bad)) == [(Type.ACK, b"")]
    assert len(reader.rejected) == 1
    # A LEN corrupted upwards (4 → 300) must not swallow the good frames behind it.
    longer = bytearray(frame(Type.DATA, b"wxyz"))
    longer[1] = 300 & 0xFF
    longer[2] = 300 >> 8
    reader = FrameReader(max_payload=512)
    got = reader.feed(bytes(longer) + good1 + good2)
    assert got == [(Type.ACK, b""), (Type.DATA, b"\x01\x02\x03\x04")]


def test_compile_takes_a_named_profile(files, tmp_path):
    # (the iCEBreaker's: the 4 * Tm window, compact, identity and ReLU only, 16-bit
    # weights: the program is for the board, not for the default Tn = Tm = 4)
    from golden.compiler import main
    from golden.contract.config import profile_config
    out = tmp_path / "p"
    assert main([str(files / "model.npz"), "--input", str(files / "x.npy"),
                 "--profile", "icebreaker", "-o", str(out)]) == 0
    cfg = json.loads((out / "program.json").read_text())["config"]
    assert (cfg["tn"], cfg["tm"], cfg["window_k"], cfg["compact"], cfg["activations"],
            cfg["widths"]) == (2, 2, 4, True, ["identity", "relu"], [16])
    assert cfg == profile_config("icebreaker").as_dict()
