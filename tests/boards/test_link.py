"""The host link: the frame protocol (software), the UART and the board top's
link in Amaranth simulation through a bit-level UART model — good frames,
corrupt frames, broken-off frames, and the link still answering afterwards."""

import random
import struct

import pytest
from amaranth.sim import Simulator

from boards.protocol import (
    COUNTERS,
    CRC,
    MAX_PAYLOAD,
    SYNC,
    Error,
    FrameReader,
    ProtocolError,
    Type,
    crc16,
    decode_info,
    encode_info,
    frame,
)
from boards.soc import BoardTop
from boards.uart import UARTRx, UARTTx, divisor_for
from golden.compiler import small_config
from tb.sim.uart_model import uart_session

# --- protocol (software) -------------------------------------------------------------

def _crc_bitwise(data):
    """CRC-16/KERMIT from its definition: reflected polynomial 0x1021 (0x8408), init 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def test_crc_is_kermit():
    assert CRC.data_width == 8
    assert crc16(b"123456789") == 0x2189          # the catalogued check value
    rng = random.Random(0)
    for _ in range(50):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        assert crc16(data) == _crc_bitwise(data)


def test_frame_layout_and_reader_round_trip():
    f = frame(Type.WRITE, b"\x01\x02\x03")
    assert f[0] == SYNC and struct.unpack("<HB", f[1:4]) == (3, Type.WRITE)
    assert f[4:7] == b"\x01\x02\x03"
    assert struct.unpack("<H", f[7:]) == (_crc_bitwise(f[1:7]),)
    rng = random.Random(1)
    frames = [(int(t), bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60))))
              for t in rng.choices(list(Type), k=20)]
    stream = b"\x00\x13garbage" + b"".join(frame(t, p) for t, p in frames)
    reader, got = FrameReader(), []
    k = 0
    while k < len(stream):                       # fed in random pieces
        n = rng.randrange(1, 9)
        got += reader.feed(stream[k:k + n])
        k += n
    assert got == frames


def test_reader_rejects_bad_crc():
    bad = bytearray(frame(Type.DATA, b"abcd"))
    bad[5] ^= 0x10
    reader = FrameReader()
    assert reader.feed(bytes(bad)) == []
    assert len(reader.rejected) == 1 and "bad CRC" in reader.rejected[0]


def test_frame_reader_fuzz():
    """Seeded: streams of frames with some corrupted (a flipped byte, LEN bent up or
    down, cut short, garbage between), fed in random pieces.  Every frame the
    reader returns is one that was sent, in order, and every frame left intact is
    returned (the reader resynchronizes after each bad one)."""
    rng = random.Random(20261129)
    intact_total = bad_total = 0
    for trial in range(300):
        sent, stream, intact = [], bytearray(), []
        for _ in range(rng.randrange(1, 12)):
            item = (int(rng.choice(list(Type))), bytes(rng.randrange(256)
                                                       for _ in range(rng.randrange(0, 40))))
            raw = bytearray(frame(*item))
            damage = rng.random()
            if damage < 0.15:
                raw[rng.randrange(1, len(raw))] ^= 1 << rng.randrange(8)
            elif damage < 0.25:                       # LEN bent (up or down)
                raw[1] = (raw[1] + rng.choice([-3, -1, 1, 5, 100])) & 0xFF
            elif damage < 0.3:                        # cut short
                raw = raw[:rng.randrange(1, len(raw))]
            elif damage < 0.35:                       # garbage in front
                stream += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 10)))
            if bytes(raw) == frame(*item):
                intact.append(item)
            sent.append(item)
            stream += raw
        reader, got, k = FrameReader(max_payload=256), [], 0
        while k < len(stream):
            n = rng.randrange(1, 20)
            got += reader.feed(bytes(stream[k:k + n]))
            k += n
        it = iter(sent)
        assert all(any(g == s for s in it) for g in got), f"trial {trial}: unsent frame"
        assert [g for g in got if g in intact] == intact, f"trial {trial}: intact frame lost"
        intact_total += len(intact)
        bad_total += len(sent) - len(intact)
    assert intact_total > 500 and bad_total > 200


def test_info_round_trip():
    # (the window, the tables, compact and the activations too: a host that compiled
    # for the thesis' 16 * Tm window would drive a board built with 8 * Tm wrong)
    from golden.contract.config import profile_config
    for cfg in (small_config(2, 2), small_config(4, 4, widths=(4, 16)),
                small_config(1, 2, ib_bytes=512, widths=(16,)),
                small_config(4, 4, window_k=8, lut_tables=1), profile_config("icebreaker"),
                small_config(2, 2, activations=("relu", "tanh"))):
        back, words, payload = decode_info(encode_info(cfg, 4096, 256))
        assert (back, words, payload) == (cfg, 4096, 256)
    with pytest.raises(ProtocolError, match="not a sparsegen board"):
        decode_info(b"XX" + encode_info(small_config(2, 2), 16)[2:])


def test_divisor_validation():
    assert divisor_for(12_000_000, 115200) == 104
    assert divisor_for(25_000_000, 115200) == 217
    with pytest.raises(ValueError, match="too fast"):
        divisor_for(1_000_000, 500_000)
    with pytest.raises(ValueError, match="divisor"):
        UARTRx(3)


# --- UART ----------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [4, 5, 9])
def test_uart_loopback(divisor):
    from amaranth.hdl import Module
    seed = divisor
    rng = random.Random(seed)
    data = [rng.randrange(256) for _ in range(40)]
    tx, rx = UARTTx(divisor), UARTRx(divisor)
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def send(ctx):
        for value in data:
            for _ in range(rng.choice([0, 0, 1, 3 * divisor])):   # random idle gaps
                await ctx.tick()
            ctx.set(tx.data.valid, 1)
            ctx.set(tx.data.payload, value)
            await ctx.tick().until(tx.data.ready)
            ctx.set(tx.data.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    async def receive(ctx):
        async for _, _, valid, payload, err in ctx.tick().sample(rx.data.valid, rx.data.payload,
                                                                  rx.frame_error):
            assert not err
            if valid:
                got.append(int(payload))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_testbench(receive, background=True)
    sim.run()
    assert got == data, f"seed {seed}, divisor {divisor}"


def test_uart_rx_drops_byte_with_low_stop_bit():
    divisor = 4
    rx = UARTRx(divisor)
    seen, errors = [], []

    async def bench(ctx):
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(8)
        for value, stop in ((0xA5, 0), (0x3C, 1)):
            for bit in [0] + [(value >> i) & 1 for i in range(8)] + [stop]:
                ctx.set(rx.rx, bit)
                await ctx.tick().repeat(divisor)
            ctx.set(rx.rx, 1)
            await ctx.tick().repeat(3 * divisor)

    async def watch(ctx):
        async for _, _, valid, payload, err in ctx.tick().sample(rx.data.valid, rx.data.payload,
                                                                  rx.frame_error):
            if valid:
                seen.append(int(payload))
            if err:
                errors.append(1)

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(watch, background=True)
    sim.run()
    assert seen == [0x3C] and errors == [1]


# --- the board top's link ------------------------------------------------------------

DIV, TIMEOUT = 4, 120
CFG = small_config(2, 2, ib_bytes=1024)
WORDS = 256


def _replies(raw):
    return FrameReader().feed(raw)


def _error(code):
    return [(Type.ERROR, bytes([code]))]


def _quiet(nbytes):
    """Bit times to wait for a reply of ``nbytes`` payload bytes, and the link's timeout."""
    return 10 * (nbytes + 6) + TIMEOUT // DIV + 40


def test_link_commands_and_errors():
    rng = random.Random(7)
    B = CFG.mem_width // 8
    words = [rng.randrange(1 << CFG.mem_width) for _ in range(9)]
    write = frame(Type.WRITE, struct.pack("<I", 20) + b"".join(w.to_bytes(B, "little")
                                                               for w in words))
    read = frame(Type.READ, struct.pack("<IH", 19, 11))
    corrupt = bytearray(write)
    corrupt[9] ^= 0x01                              # one payload bit flipped
    steps = [
        (frame(Type.PING), _quiet(46)),
        (write, _quiet(0)),
        (read, _quiet(44)),
        (bytes(corrupt), _quiet(0)),                 # → ERROR CRC, memory untouched
        (read, _quiet(44)),
        (write[:11], _quiet(0)),                     # broken off mid-payload → ERROR TIMEOUT
        (frame(Type.PING), _quiet(46)),              # ... and the link still answers
        (frame(0x77, b"xy"), _quiet(0)),             # unknown type
        (frame(Type.READ, struct.pack("<IH", WORDS - 2, 3)), _quiet(0)),   # beyond memory
        (frame(Type.WRITE, struct.pack("<I", 0) + b"\x01\x02\x03"), _quiet(0)),  # partial word
        (frame(Type.READ, struct.pack("<IH", 0, 0)), _quiet(0)),          # zero words
        (bytes([SYNC]) + struct.pack("<HB", MAX_PAYLOAD + 1, Type.WRITE) + bytes(40),
         _quiet(0)),                                 # too long: ERROR LENGTH, rest drained
        (frame(Type.READ, struct.pack("<IH", 20, 2)), _quiet(12)),
        (frame(Type.WRITE, struct.pack("<I", WORDS - 1) + bytes(2 * B)), _quiet(0)),  # beyond
    ]
    dut = BoardTop(CFG, WORDS, DIV, TIMEOUT)
    got = uart_session(dut, steps, DIV)
    replies = [_replies(r) for r in got]
    cfg, mem_words, max_payload = decode_info(replies[0][0][1])
    assert replies[0][0][0] == Type.INFO
    assert (cfg, mem_words, max_payload) == (CFG, WORDS, MAX_PAYLOAD)
    assert replies[1] == [(Type.ACK, b"")]
    expect = [0] + words + [0]                      # 19..29: one untouched word each side
    data = b"".join(w.to_bytes(B, "little") for w in expect)
    assert replies[2] == [(Type.DATA, data)]
    assert replies[3] == _error(Error.CRC)
    assert replies[4] == [(Type.DATA, data)]
    assert replies[5] == _error(Error.TIMEOUT)
    assert replies[6][0][0] == Type.INFO
    assert replies[7] == _error(Error.TYPE)
    assert replies[8] == _error(Error.ADDRESS)
    assert replies[9] == _error(Error.LENGTH)
    assert replies[10] == _error(Error.LENGTH)
    assert replies[11] == _error(Error.LENGTH)
    assert replies[12] == [(Type.DATA, data[B:3 * B])]
    assert replies[13] == _error(Error.ADDRESS)


def test_board_top_validates_parameters():
    with pytest.raises(ValueError, match="mem_words"):
        BoardTop(CFG, 1000, DIV, TIMEOUT)
    with pytest.raises(ValueError, match="timeout"):
        BoardTop(CFG, 256, DIV, 3)
    with pytest.raises(ValueError, match="divisor"):
        BoardTop(CFG, 256, 2, TIMEOUT)
    with pytest.raises(TypeError, match="AccelConfig"):
        BoardTop({"tn": 2}, 256, DIV, TIMEOUT)
    assert len(COUNTERS) == 7


# --- the command lines' errors ----------------------------------------------------------

def test_cli_errors_name_the_problem(tmp_path, capsys):
    from boards.host import main as host_main
    from boards.sim import main as sim_main
    assert sim_main(["--divisor", "2"]) == 2
    assert "divisor must be an integer >= 4, not 2" in capsys.readouterr().err
    assert sim_main(["--mem-words", "1000"]) == 2
    assert "mem_words must be a power of two" in capsys.readouterr().err
    assert host_main([str(tmp_path / "none.npz"), "--input", str(tmp_path / "x.npy"),
                      "--port", "socket://127.0.0.1:1"]) == 2
    assert "error:" in capsys.readouterr().err
