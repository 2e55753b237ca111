"""Verilog generation: ``python -m hdl.generate MODULE [options] -o DIR``.

Writes ``DIR/MODULE.v`` (top module named ``MODULE``) and ``DIR/MODULE.json``
(the parameters, the derived figures and every port with its width and, for
structured payloads, its fields and bit offsets).  ``MODULE`` ``all`` writes
every registered module.

Modules register themselves in :mod:`hdl.registry`; a new module only adds its
own file.
"""

import sys
import time
from pathlib import Path

from golden.cli import ArgumentParser, atomic_json, atomic_write, output_dir, run_main
from hdl.registry import TM, TN, build, registry

__all__ = ["port_table", "convert", "write", "generate", "main"]


def _describe_shape(shape):
    from amaranth.hdl import Shape
    from amaranth.lib import data
    if isinstance(shape, data.Layout):
        fields = {}
        for key, fld in shape:
            desc = _describe_shape(fld.shape)
            desc["offset"] = fld.offset
            fields[str(key)] = desc
        return {"width": shape.size, "fields": fields}
    cast = Shape.cast(shape)
    return {"width": cast.width, "signed": cast.signed}


def port_table(component):
    """Every Verilog port of a component with its direction and shape."""
    from amaranth.lib import wiring
    ports = {"clk": {"dir": "in", "width": 1}, "rst": {"dir": "in", "width": 1}}
    for path, member, _value in component.signature.flatten(component):
        name = "__".join(map(str, path))
        desc = _describe_shape(member.shape)
        desc["dir"] = "in" if member.flow == wiring.In else "out"
        ports[name] = desc
    return ports


def convert(name, component):
    """``(Verilog text, JSON record)`` of a constructed component, nothing written."""
    from amaranth.back import verilog
    start = time.perf_counter()
    text = verilog.convert(component, name=name, emit_src=False)
    seconds = time.perf_counter() - start
    record = {
        "module": name,
        "parameters": component.parameters,
        "ports": port_table(component),
        "generation_seconds": round(seconds, 3),
    }
    return text, record


def write(name, outdir, text, record):
    """Write ``outdir/name.v`` and ``outdir/name.json``, each whole or not at all."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    atomic_write(outdir / f"{name}.v", text)
    atomic_json(outdir / f"{name}.json", record)


def generate(name, outdir, *, component=None, **kwargs):
    """Write ``outdir/name.v`` and ``outdir/name.json``; return the JSON record.

    ``component`` is the already constructed module, else it is built from ``kwargs``.
    """
    if component is None:
        component = build(name, **kwargs)
    text, record = convert(name, component)
    write(name, outdir, text, record)
    return record


def _parser(entries):
    parser = ArgumentParser(
        prog="python -m hdl.generate",
        description="Generate Verilog for a sparsegen module.")
    sub = parser.add_subparsers(dest="module", required=True, metavar="MODULE")
    # `all` always takes the shared options, so `make verilog TN=… TM=…` works for any set.
    all_options = {TN.flag: TN, TM.flag: TM}
    for entry in entries.values():
        p = sub.add_parser(entry.name, help=entry.help, description=entry.help)
        for opt in entry.options:
            p.add_argument(opt.flag, dest=opt.dest, type=int, default=opt.default,
                           help=f"{opt.help} (default {opt.default})")
            all_options[opt.flag] = opt
        p.add_argument("-o", "--output", metavar="DIR", required=True,
                       help="directory for MODULE.v and MODULE.json")
    p = sub.add_parser("all", help="every module above but composites (slice), with the "
                                   "options they share",
                       description="Generate every registered module.")
    for opt in all_options.values():
        p.add_argument(opt.flag, dest=opt.dest, type=int, default=opt.default,
                       help=f"{opt.help} (default {opt.default})")
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="directory for the .v and .json files")
    return parser


def main(argv=None):
    entries = registry()
    args = _parser(entries).parse_args(argv)
    kwargs = {k: v for k, v in vars(args).items() if k not in ("module", "output")}
    names = [n for n, e in entries.items() if e.in_all] if args.module == "all" else [args.module]

    def body():
        out = output_dir(args.output, "-o/--output")
        # Construct and convert everything first, so that a bad parameter or a
        # failed conversion writes nothing.
        components = {name: build(name, **kwargs) for name in names}
        done = {name: convert(name, c) for name, c in components.items()}
        for name, (text, record) in done.items():
            write(name, out, text, record)
            print(f"{out}/{name}.v  ({record['generation_seconds']:.2f} s)")
        return 0
    return run_main(f"python -m hdl.generate {args.module}", body)


if __name__ == "__main__":
    sys.exit(main())
