"""Run a model on the board from the host:
``python -m boards.host MODEL --input X.npy --port /dev/ttyUSB1``
(a model with conv layers: ``--input-shape C,H,W``, one program per batch of images).

Asks the board for its configuration (PING → INFO), compiles ``MODEL`` (a
compressed model, ``python -m golden.compress``) for it with the int16 inputs of
``X.npy`` (one row per vector), writes the program and data into the board's
RAM, runs it, reads the outputs back and checks them, bit for bit, against the
golden machine.  Prints a report; ``--json`` writes one for scripts, ``-o`` the
outputs as ``.npy``.  Exit status 0 when bit-exact, 1 on a mismatch, 2 on bad
arguments or a link failure.

``--port`` is anything pyserial opens: a device, or ``socket://HOST:PORT`` for
the simulated board of ``python -m boards.sim``.  A frame the board rejects
(bad CRC, broken off) or a reply that does not arrive is sent again, up to
``--retries`` times.
"""

import argparse
import struct
import sys
import time

import numpy as np

from boards.protocol import COUNTERS, Error, FrameReader, ProtocolError, Type, decode_info, frame

__all__ = ["Board", "LinkError", "run_on_board", "main"]


class LinkError(Exception):
    """The board did not answer, or kept rejecting a frame."""


class Board:
    """The host end of the link over a pyserial port (``serial.Serial`` or any
    object with ``write``, ``read`` and a ``timeout``)."""

    def __init__(self, port, *, retries=3, reply_timeout=10.0, log=None):
        self.port = port
        self.retries = retries
        self.reply_timeout = reply_timeout
        self.log = log or (lambda msg: None)
        self.reader = FrameReader()
        self.errors = []           # ERROR codes and lost replies seen (retried)
        self.cfg = self.mem_words = self.max_payload = None

    def _reply(self, timeout):
        deadline = time.monotonic() + timeout
        seen = len(self.reader.rejected)
        while time.monotonic() < deadline:
            data = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 1))
            if data:
                frames = self.reader.feed(data)
                if frames:
                    return frames[0]
                if len(self.reader.rejected) > seen:
                    raise ProtocolError(f"reply discarded: {self.reader.rejected[-1]}")
        raise TimeoutError

    def request(self, ftype, payload=b"", expect=None, timeout=None):
        """Send one frame and return the reply's payload, retrying what the board rejects."""
        raw = frame(ftype, payload)
        for attempt in range(self.retries + 1):
            self.port.write(raw)
            try:
                rtype, body = self._reply(self.reply_timeout if timeout is None else timeout)
            except TimeoutError:
                self.errors.append("no reply")
                self.log(f"no reply to {Type(ftype).name} (attempt {attempt + 1})")
                self.reader = FrameReader()
                continue
            except ProtocolError as e:
                self.errors.append(str(e))
                self.log(f"{e} (attempt {attempt + 1})")
                self.reader = FrameReader()
                continue
            if rtype == Type.ERROR:
                try:
                    code = Error(body[0])
                except (ValueError, IndexError):
                    code = body.hex()
                self.errors.append(getattr(code, "name", str(code)))
                if code in (Error.CRC, Error.TIMEOUT):
                    self.log(f"board: ERROR {code.name} for {Type(ftype).name} "
                             f"(attempt {attempt + 1}), sending again")
                    continue
                raise ProtocolError(f"board answered {Type(ftype).name} with ERROR "
                                    f"{getattr(code, 'name', code)}", code)
            if expect is not None and rtype != expect:
                raise ProtocolError(f"board answered {Type(ftype).name} with type 0x{rtype:02x}, "
                                    f"expected {expect.name}")
            return body
        raise LinkError(f"{Type(ftype).name} failed {self.retries + 1} times "
                        f"({', '.join(self.errors[-(self.retries + 1):])})")

    # --- commands ---------------------------------------------------------------------
    def ping(self):
        try:
            cfg, mem_words, max_payload = decode_info(self.request(Type.PING, expect=Type.INFO))
        except ValueError as e:      # a configuration golden.contract.config rejects
            raise ProtocolError(f"the board's INFO holds an invalid configuration: {e}") from None
        least = 4 + cfg.mem_width // 8     # a WRITE: the address and one word
        if max_payload < least:
            raise ProtocolError(f"the board reports max_payload {max_payload} bytes, less than "
                                f"a WRITE of one {cfg.mem_width}-bit word needs ({least})")
        if mem_words < 1:
            raise ProtocolError(f"the board reports {mem_words} memory words")
        self.cfg, self.mem_words, self.max_payload = cfg, mem_words, max_payload
        return self.cfg

    @property
    def word_bytes(self):
        return self.cfg.mem_width // 8

    def write(self, addr, words):
        B = self.word_bytes
        per = (self.max_payload - 4) // B
        for k in range(0, len(words), per):
            chunk = words[k:k + per]
            payload = struct.pack("<I", addr + k) + b"".join(int(w).to_bytes(B, "little")
                                                             for w in chunk)
            self.request(Type.WRITE, payload, expect=Type.ACK)

    def read(self, addr, count):
        B = self.word_bytes
        per = self.max_payload // B
        out = []
        for k in range(0, count, per):
            n = min(per, count - k)
            body = self.request(Type.READ, struct.pack("<IH", addr + k, n), expect=Type.DATA)
            if len(body) != n * B:
                raise ProtocolError(f"DATA of {len(body)} bytes for {n} words")
            out += [int.from_bytes(body[i * B:(i + 1) * B], "little") for i in range(n)]
        return out

    def run(self, prog_addr, prog_len, timeout=None):
        body = self.request(Type.RUN, struct.pack("<IH", prog_addr, prog_len), expect=Type.DONE,
                            timeout=timeout)
        if len(body) != 4 * len(COUNTERS):
            raise ProtocolError(f"DONE of {len(body)} bytes, expected {4 * len(COUNTERS)} "
                                f"({len(COUNTERS)} counters)")
        return dict(zip(COUNTERS, struct.unpack(f"<{len(COUNTERS)}I", body)))


def _runs(image):
    """Contiguous ``(addr, [words])`` runs of a memory image."""
    out = []
    for a in sorted(image):
        if out and out[-1][0] + len(out[-1][1]) == a:
            out[-1][1].append(image[a])
        else:
            out.append((a, [image[a]]))
    return out


def run_on_board(board, model, x, *, dense=False, progress=None, run_timeout=None,
                 shape=None, pool="max", pool_size=2):
    """Compile ``model`` for the board, run every input vector, return a result dict
    (``outputs``, ``golden_outputs``, ``bit_exact``, ``mismatch``, ``counters``,
    ``words_written``, ``seconds``, ``programs``).  A model with conv layers takes
    ``shape`` (the images' ``(C, H, W)``; ``pool``, ``pool_size``): each batch of
    images is one program (:func:`golden.compiler.compile_cnn`) — the images go
    in, the outputs come out, nothing in between."""
    from tqdm import tqdm

    from golden.compiler import compile_cnn, compile_model
    from golden.contract.layout import MemoryImage
    from golden.twins.machine import run_program
    from tb.run import batches, cnn_batches
    quiet = progress is None
    progress = progress or (lambda msg: None)
    cfg = board.cfg or board.ping()
    x = np.asarray(x)
    t0 = time.monotonic()
    outs, golden, counters, written = [], [], {k: 0 for k in COUNTERS}, 0
    if shape is None:
        parts = batches(model, x, cfg, dense)

        def compile_part(part):
            return compile_model(model, cfg, x[part], dense=dense)
    else:
        parts = cnn_batches(model, x, cfg, shape, pool, pool_size, dense)

        def compile_part(part):
            return compile_cnn(model, cfg, x[part], shape, pool=pool, pool_size=pool_size,
                               dense=dense)
    for part in parts:
        program = compile_part(part)
        top = max(program.image) + 1
        if top > board.mem_words:
            raise LinkError(f"the program and data need {top} words; the board has "
                            f"{board.mem_words} (vectors {part.start}..{part.stop - 1})")
        want, _ = run_program(program)
        runs = _runs(program.image)
        total = sum(len(w) for _, w in runs)
        with tqdm(total=total, unit="word", desc="write", disable=quiet, leave=False) as bar:
            for addr, words in runs:
                board.write(addr, words)
                written += len(words)
                bar.update(len(words))
        progress(f"vectors {part.start}..{part.stop - 1}: {total} words written, running "
                 f"{len(program.words)} instructions")
        c = board.run(program.prog_addr, len(program.words), timeout=run_timeout)
        for k in COUNTERS:
            counters[k] += c[k]
        mem = MemoryImage(cfg.mem_width)
        for lay in program.outputs:
            bitmap_words = 0 if lay.dense else lay.windows(cfg) * cfg.words["bitmap"]
            for base, n in ((lay.bm_addr, bitmap_words),
                            (lay.val_addr, lay.windows(cfg) * cfg.words["nbin"])):
                if n:
                    mem.write(base, board.read(base, n))
        outs.append(program.read_outputs(mem))
        golden.append(want)
    got, want = np.concatenate(outs), np.concatenate(golden)
    bad = np.argwhere(got != want)
    mismatch = None
    if bad.size:
        v, k = (int(i) for i in bad[0])
        mismatch = (f"vector {v}, output {k}: board {int(got[v, k])}, golden {int(want[v, k])} "
                    f"({len(bad)} outputs differ)")
    return {"outputs": got, "golden_outputs": want, "bit_exact": mismatch is None,
            "mismatch": mismatch, "counters": counters, "words_written": written,
            "seconds": round(time.monotonic() - t0, 3), "config": cfg.as_dict(),
            "mem_words": board.mem_words, "link_errors": list(board.errors),
            "programs": len(parts)}


def main(argv=None):
    from golden.cli import (
        ArgumentParser,
        UsageError,
        add_cnn_arguments,
        atomic_json,
        atomic_npy,
        cnn_shape,
        output_file,
        run_main,
    )
    p = ArgumentParser(prog="python -m boards.host", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="compressed model file (python -m golden.compress)")
    p.add_argument("--input", required=True, help="int16 .npy, one row per input vector")
    p.add_argument("--port", required=True,
                   help="serial device (/dev/ttyUSB1), socket://HOST:PORT, or a TCP port number "
                        "on 127.0.0.1 (the --port of python -m boards.sim)")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    p.add_argument("--dense", action="store_true", help="run in dense mode (ACC-dense)")
    p.add_argument("--retries", type=int, default=3, help="resends of a rejected frame (default 3)")
    p.add_argument("--reply-timeout", type=float, default=10.0,
                   help="seconds to wait for a reply before sending again (default 10)")
    p.add_argument("--run-timeout", type=float, default=600.0,
                   help="seconds to wait for a run to finish (default 600)")
    add_cnn_arguments(p, "one program per batch of images, nothing between layers")
    p.add_argument("-o", "--output", help="write the board's outputs here (.npy)")
    p.add_argument("--json", help="write the report here (JSON)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    prog = "python -m boards.host"
    say = (lambda msg: None) if args.quiet else (lambda msg: print(f"{prog}: {msg}", flush=True))

    def body():
        import serial

        from golden.compiler import read_inputs
        from golden.contract.model import load
        if args.retries < 0:
            raise UsageError(f"--retries must be at least 0, not {args.retries}")
        for name, value in (("--reply-timeout", args.reply_timeout),
                            ("--run-timeout", args.run_timeout)):
            if not value > 0:
                raise UsageError(f"{name} must be a positive number of seconds, not {value}")
        if args.baud < 1:
            raise UsageError(f"--baud must be positive, not {args.baud}")
        output_file(args.output, "-o/--output")
        output_file(args.json, "--json")
        model = load(args.model)
        x = read_inputs(args.input)
        shape = cnn_shape(args, model, x.shape[1])
        url = f"socket://127.0.0.1:{args.port}" if args.port.isdigit() else args.port
        try:
            port = serial.serial_for_url(url, baudrate=args.baud, timeout=0.05)
        except (serial.SerialException, ValueError) as e:
            raise UsageError(f"--port {args.port}: {e}") from None
        board = Board(port, retries=args.retries, reply_timeout=args.reply_timeout, log=say)
        try:
            cfg = board.ping()
            say(f"board: Tn={cfg.tn} Tm={cfg.tm}, {board.mem_words} words of "
                f"{cfg.mem_width} bits")
            res = run_on_board(board, model, x, dense=args.dense, progress=say,
                               run_timeout=args.run_timeout, shape=shape, pool=args.pool,
                               pool_size=args.pool_size)
        finally:
            port.close()
        c = res["counters"]
        print(f"{prog}: {len(x)} vector(s) in {res['programs']} program(s), "
              f"{res['words_written']} words written, "
              f"{c['cycles']} accelerator cycles ({c['compute_cycles']} computing), "
              f"{res['seconds']:.1f} s on the link; link errors retried: "
              f"{len(res['link_errors'])}")
        print(f"{prog}: " + ("bit-exact with the golden model" if res["bit_exact"]
                             else "MISMATCH: " + res["mismatch"]))
        if args.output:
            atomic_npy(args.output, res["outputs"])
        if args.json:
            report = {k: v for k, v in res.items() if k not in ("outputs", "golden_outputs")}
            report["outputs"] = res["outputs"].tolist()
            atomic_json(args.json, report)
        return 0 if res["bit_exact"] else 1
    return run_main(prog, body, errors=(LinkError, ProtocolError))


if __name__ == "__main__":
    sys.exit(main())
