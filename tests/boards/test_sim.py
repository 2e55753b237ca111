"""The host tool against the board top's generated Verilog in a simulator, through
the bit-level UART model of ``tb.benches.test_board`` and a TCP socket: a whole model run
with ``python -m boards.host`` as a user runs it, then, on the same running board,
corrupt frames, a broken-off transfer and the host's resend."""

import json
import socket
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from boards.host import Board
from boards.protocol import Error, FrameReader, Type, frame
from boards.sim import BOARD_SIM_DEFAULTS, serve, wait_ready
from golden.compiler import small_config
from golden.contract.model import save
from golden.data.synthetic import random_inputs, random_model
from golden.twins.infer import infer

pytestmark = pytest.mark.cocotb

SEED = 3


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_board(work):
    """A simulated board (Icarus) serving three host sessions, in a thread."""
    d = BOARD_SIM_DEFAULTS
    cfg = small_config(d["tn"], d["tm"], ib_bytes=d["ib_bytes"])
    port = _free_port()
    out = {}

    def run():
        try:
            out["result"] = serve(cfg, port=port, workdir=work, mem_words=d["mem_words"],
                                  divisor=d["divisor"], timeout=d["timeout"], connections=3,
                                  sim="icarus", ready=work / "ready")
        except BaseException as e:       # reported by the test that waits
            out["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    wait_ready(work / "ready", timeout=300, proc=th)
    return {"port": port, "work": work, "cfg": cfg, "thread": th, "out": out}


def test_board_over_uart_model(tmp_path):
    """One simulated board, three sessions: the host tool runs an MLP, then a CNN
    (one program per batch of images), then a raw client sends corrupt and
    broken-off frames; the board must stay usable."""
    board = _start_board(tmp_path / "board")
    try:
        _host_runs_model_bit_exact(board, tmp_path)
        _host_runs_cnn_bit_exact(board, tmp_path)
        _corrupt_and_broken_off_frames(board)
    finally:
        board["thread"].join(timeout=600)
    assert not board["thread"].is_alive(), "the simulation did not end after two sessions"
    assert "error" not in board["out"], board["out"].get("error")
    failures, log, _ = board["out"]["result"]
    assert not failures, f"{failures}; log {log}"


def _host_runs_model_bit_exact(board, tmp_path):
    rng = np.random.default_rng(SEED)
    model = random_model(rng, [40, 24, 10], 0.5, 8)
    x = random_inputs(rng, 40, 2)
    save(model, tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", x)
    cmd = [sys.executable, "-m", "boards.host", str(tmp_path / "m.npz"), "--input",
           str(tmp_path / "x.npy"), "--port", f"socket://127.0.0.1:{board['port']}",
           "--json", str(tmp_path / "r.json"), "-o", str(tmp_path / "y.npy"),
           "--reply-timeout", "120"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"seed {SEED}: {proc.stdout}{proc.stderr}"
    assert "bit-exact" in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["bit_exact"] and report["config"]["tn"] == board["cfg"].tn
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, infer(model, x))       # independent of the host's check
    assert report["counters"]["cycles"] > 0 and report["counters"]["steps"] > 0


def _host_runs_cnn_bit_exact(board, tmp_path):
    """A small CNN (2x2 kernel, stride 2, padding 1, max pooling, then FC) through
    the host tool: the images in, the outputs out, the patches gathered on chip."""
    from golden.compression.pipeline import CompressConfig, compress_network
    from golden.twins.conv import infer_cnn
    rng = np.random.default_rng(SEED + 1)
    layers = [("conv1", rng.normal(size=(3, 1, 2, 2)), rng.normal(size=3) * 0.1,
               {"stride": 2, "padding": 1}),
              ("fc", rng.normal(size=(4, 3)) * 0.5, rng.normal(size=4) * 0.1, {})]
    model, _ = compress_network(layers, CompressConfig(block_fc=(2, 1), block_conv=(1, 1, 1, 1),
                                                       sparsity_fc=0.3, sparsity_conv=0.3,
                                                       bits_fc=4, bits_conv=4, steps=1))
    x = rng.integers(-200, 300, size=(2, 16)).astype(np.int16)
    save(model, tmp_path / "cnn.npz")
    np.save(tmp_path / "xc.npy", x)
    cmd = [sys.executable, "-m", "boards.host", str(tmp_path / "cnn.npz"), "--input",
           str(tmp_path / "xc.npy"), "--input-shape", "1,4,4", "--port",
           f"socket://127.0.0.1:{board['port']}", "--json", str(tmp_path / "rc.json"),
           "-o", str(tmp_path / "yc.npy"), "--reply-timeout", "120"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"seed {SEED + 1}: {proc.stdout}{proc.stderr}"
    report = json.loads((tmp_path / "rc.json").read_text())
    assert report["bit_exact"] and 1 <= report["programs"] <= 2
    np.testing.assert_array_equal(np.load(tmp_path / "yc.npy"), infer_cnn(model, x, (1, 4, 4)))


class _Corrupting:
    """A pyserial port that flips one bit in the first ``n`` frames it writes."""

    def __init__(self, port, n):
        self.port, self.n = port, n

    def write(self, data):
        if self.n:
            self.n -= 1
            data = bytearray(data)
            data[-3] ^= 0x04
        return self.port.write(bytes(data))

    def __getattr__(self, name):
        return getattr(self.port, name)


def _corrupt_and_broken_off_frames(board):
    import serial
    port = serial.serial_for_url(f"socket://127.0.0.1:{board['port']}", timeout=0.05)
    try:
        reader = FrameReader()

        def exchange(raw, timeout=120):
            port.write(raw)
            b = Board(port, reply_timeout=timeout)
            b.reader = reader
            return b._reply(timeout)

        ping = frame(Type.PING)
        bad = bytearray(ping)
        bad[-1] ^= 0xFF
        assert exchange(bytes(bad)) == (Type.ERROR, bytes([Error.CRC]))
        # Broken off: half a WRITE, then silence → ERROR TIMEOUT, no write happened.
        free = BOARD_SIM_DEFAULTS["mem_words"] - 16         # above the model's image
        write = frame(Type.WRITE, struct.pack("<I", free) + bytes(range(1, 17)))
        assert exchange(write[:9]) == (Type.ERROR, bytes([Error.TIMEOUT]))
        assert exchange(frame(Type.READ, struct.pack("<IH", free, 4))) == (Type.DATA, bytes(16))
        # The host's resend: the first attempt arrives corrupt, the second is taken.
        host = Board(_Corrupting(port, 1), reply_timeout=120)
        cfg = host.ping()
        assert cfg == board["cfg"] and host.errors == ["CRC"]
        host.write(free, [0x11223344, 0x55667788])
        assert host.read(free, 3) == [0x11223344, 0x55667788, 0]
    finally:
        port.close()
