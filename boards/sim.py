"""The board top in simulation, reachable over TCP as if it were a serial port:
``python -m boards.sim [--tn 2 --tm 2 …] [--port 5555] [--sim icarus|verilator]``.

Generates ``boards.soc.BoardTop`` for the configuration, builds it with cocotb's
runner, and runs ``tb.benches.test_board``: a bit-level UART model between the board's
pins and a TCP socket on 127.0.0.1.  Then, from another shell::

    python -m boards.host MODEL --input X.npy --port socket://127.0.0.1:5555

The simulated UART runs at ``--divisor`` clock cycles per bit (default 4, the
least the receiver allows), so a transfer takes simulated time, not wall time
at 115200 baud.  The simulation ends after ``--connections`` host sessions.
"""

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from golden.cli import ArgumentParser, add_sim, positive_int, run_main
from golden.contract.config import add_config_arguments, config_from_args

__all__ = ["BOARD_SIM_DEFAULTS", "generate", "serve", "main"]

#: The simulated board: a small configuration, a 16 Ki-word RAM, a fast UART.
BOARD_SIM_DEFAULTS = {"tn": 2, "tm": 2, "ib_bytes": 1024, "mem_words": 1 << 14,
                      "divisor": 4, "timeout": 400}


def generate(cfg, workdir, *, mem_words, divisor, timeout):
    """Write ``board.v`` (module ``board``) into ``workdir``; return its path."""
    from amaranth.back import verilog

    from boards.soc import BoardTop
    top = BoardTop(cfg, mem_words, divisor, timeout)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "board.v"
    tmp = workdir / ".board.v.tmp"
    tmp.write_text(verilog.convert(top, name="board", emit_src=False))
    tmp.replace(path)
    return path


def serve(cfg, *, port, workdir, mem_words, divisor, timeout, connections=1, sim=None,
          ready=None, quiet=True, runner=None, seed=1):
    """Build (unless ``runner`` is given, from an earlier call on the same
    ``workdir``) and run the simulated board until ``connections`` host sessions
    ended.  ``ready``: a path written once the socket listens.  Returns
    ``(failures, log, runner)``."""
    from tb.runner import simulate
    workdir = Path(workdir).resolve()
    ready = Path(ready or workdir / "ready").resolve()
    if ready.exists():
        ready.unlink()
    if runner is None:
        generate(cfg, workdir, mem_words=mem_words, divisor=divisor, timeout=timeout)
    job = workdir / "board_job.json"
    job.write_text(json.dumps({"port": port, "divisor": divisor, "connections": connections,
                               "ready": str(ready)}))
    _, failures, log, runner = simulate(
        "board", [workdir / "board.v"], workdir, "tb.benches.test_board",
        {"SPARSEGEN_BOARD": str(job)}, seed=seed, sim=sim, quiet=quiet, runner=runner)
    return failures, log, runner


def wait_ready(path, timeout=600, proc=None):
    """Wait until the simulated board listens (its ready file exists)."""
    path = Path(path)
    t0 = time.monotonic()
    while not path.exists():
        if proc is not None and not proc.is_alive():
            raise RuntimeError("the board simulation ended before it listened")
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"the board simulation did not listen within {timeout} s")
        time.sleep(0.1)


def main(argv=None):
    from tb.runner import build_root
    d = BOARD_SIM_DEFAULTS
    p = ArgumentParser(prog="python -m boards.sim", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    p.set_defaults(tn=d["tn"], tm=d["tm"], ib_bytes=d["ib_bytes"])
    p.add_argument("--mem-words", type=int, default=d["mem_words"],
                   help=f"RAM words behind the memory port (power of two; "
                        f"default {d['mem_words']})")
    p.add_argument("--divisor", type=int, default=d["divisor"],
                   help=f"clock cycles per UART bit (at least 4; default {d['divisor']})")
    p.add_argument("--timeout", type=int, default=d["timeout"],
                   help=f"cycles without a byte that break off a frame (default {d['timeout']})")
    p.add_argument("--port", type=int, default=5555,
                   help="TCP port on 127.0.0.1 (default 5555; the host tool takes the same "
                        "number, or socket://127.0.0.1:PORT)")
    p.add_argument("--connections", type=positive_int, default=1,
                   help="host sessions to serve before the simulation ends (default 1)")
    add_sim(p)
    args = p.parse_args(argv)
    prog = "python -m boards.sim"
    return run_main(prog, lambda: _run(prog, args, build_root),
                    errors=(RuntimeError, TimeoutError))


def _run(prog, args, build_root):
    cfg = config_from_args(args)
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, not {args.port}")
    from boards.soc import BoardTop
    BoardTop(cfg, args.mem_words, args.divisor, args.timeout)   # bad parameters fail here
    workdir = build_root() / "boards" / "sim"
    print(f"{prog}: generating and building the board top ({cfg.tn}x{cfg.tm}, "
          f"{args.mem_words} words of {cfg.mem_width} bits) in {workdir} ...", flush=True)
    ready = workdir / "ready"
    if ready.exists():
        ready.unlink()
    out = {}

    def run():
        try:
            out.update(zip(("failures", "log", "runner"), serve(
                cfg, port=args.port, workdir=workdir, mem_words=args.mem_words,
                divisor=args.divisor, timeout=args.timeout, connections=args.connections,
                sim=args.sim, ready=ready)))
        except Exception as e:          # reported below, in the main thread
            out["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        wait_ready(ready, proc=th)
    except RuntimeError:
        if "error" in out:
            raise RuntimeError(f"the board simulation failed: {out['error']}") from None
        raise
    print(f"{prog}: listening on socket://127.0.0.1:{args.port} "
          f"(python -m boards.host MODEL --input X.npy --port socket://127.0.0.1:{args.port})",
          flush=True)
    th.join()
    if "error" in out:
        raise RuntimeError(f"the board simulation failed: {out['error']}")
    if out.get("failures"):
        print(f"{prog}: the simulation failed: {'; '.join(out['failures'])} (log {out['log']})",
              file=sys.stderr)
        return 1
    print(f"{prog}: served {args.connections} session(s); log {out.get('log')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
