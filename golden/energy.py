"""Energy per inference: the event counts of :mod:`golden.perf.events` priced by a
named per-event energy table.

    energy = Σ count × energy per event

The default table, ``horowitz-45nm``, holds the 45 nm (0.9 V) figures of
M. Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, as they are commonly cited (e.g. by EIE and Deep Compression):
a 32-bit DRAM access 640 pJ; a 64-bit SRAM access 10 pJ at 8 KB, 20 pJ at
32 KB and 100 pJ at 1 MB (about 5 pJ per 32 bits for small arrays); a 32-bit
integer multiply 3.1 pJ and add 0.1 pJ, an 8-bit add 0.03 pJ.  Where the
accelerator's operation is not in the source the entry says how it is derived
(a 16 × 16-bit multiply scaled from the 32-bit one by the square of the width;
the NSM's and the Encoder's per-position prefix counts as an 8-bit add).

An SRAM access costs ``bits / 64`` times the 64-bit figure of an array of the
buffer's size, interpolated between the source's three sizes on a log-log
scale; below 8 KB the same trend continues (the 8–32 KB slope: energy grows
as the square root of the size) down to the source's 32-bit register-file
access (1 pJ) as a floor; above 1 MB the 1 MB figure.  Registers, wires, clocking and
leakage are not counted (the thesis' and the source's figures leave them out
too).

A user's table is a JSON file (``--energy-table FILE``)::

    {"name": "my-28nm", "entries": {"dram_32b": 400, "sram_64b_8kb": {"pj": 6.5,
     "source": "..."}}}

Each entry it names replaces the default's (a number in pJ, or an object with
``pj`` and optionally ``source``); the others keep the default's.  Unknown
entry names, and values that are not positive numbers, are errors naming the
entry.

Command line::

    python -m golden.energy MODEL.npz [--tn N --tm M ...] [--dense]
        [--input X.npy | --vectors N --density D --seed S] [--energy-table FILE] [--json FILE]
    python -m golden.energy --print-table [--energy-table FILE]
"""

import json
import math
from pathlib import Path

import numpy as np

from golden.cli import (
    ArgumentParser,
    UsageError,
    add_seed,
    atomic_json,
    output_file,
    positive_int,
    run_main,
)
from golden.perf.events import BUFFERS, buffer_bytes, events

__all__ = ["DEFAULT_TABLE", "ENTRIES", "COMPONENTS", "GROUPS", "EnergyTableError",
           "load_table", "sram_pj", "breakdown", "program_energy", "with_width", "dense_neurons",
           "grouped", "model_energy", "energy_summary", "main"]

_SRC = "M. Horowitz, ISSCC 2014 (45 nm, 0.9 V)"

#: The default table: entry name -> {"pj", "unit", "source"}.
DEFAULT_TABLE = {
    "name": "horowitz-45nm",
    "node": "45 nm",
    "entries": {
        "dram_32b": {"pj": 640.0, "unit": "pJ per 32-bit DRAM access", "source": _SRC},
        "sram_64b_8kb": {"pj": 10.0, "unit": "pJ per 64-bit access, 8 KB SRAM", "source": _SRC},
        "sram_64b_32kb": {"pj": 20.0, "unit": "pJ per 64-bit access, 32 KB SRAM",
                          "source": _SRC},
        "sram_64b_1mb": {"pj": 100.0, "unit": "pJ per 64-bit access, 1 MB SRAM", "source": _SRC},
        "regfile_32b": {"pj": 1.0, "unit": "pJ per 32-bit register-file access (the floor "
                                           "of small arrays)", "source": _SRC},
        "mult_16b": {"pj": 3.1 * (16 / 32) ** 2, "unit": "pJ per 16 x 16-bit integer multiply",
                     "source": f"{_SRC}: 32-bit multiply 3.1 pJ x (16/32)^2"},
        "add_32b": {"pj": 0.1, "unit": "pJ per 32-bit integer add", "source": _SRC},
        "nsm_position": {"pj": 0.03, "unit": "pJ per NSM window position",
                         "source": f"{_SRC}: an 8-bit add (the prefix count of the position)"},
        "encoder_position": {"pj": 0.03, "unit": "pJ per Encoder window position",
                             "source": f"{_SRC}: an 8-bit add (the prefix count of the "
                                       f"position)"},
    },
}

#: The entries a table has.
ENTRIES = tuple(DEFAULT_TABLE["entries"])

#: Energy components, in report order: off-chip memory, each buffer, arithmetic,
#: the NSM and the Encoder.
COMPONENTS = ("offchip", *BUFFERS, "multiply", "add", "nsm", "encoder")

_SRAM_POINTS = ((8 * 1024, "sram_64b_8kb"), (32 * 1024, "sram_64b_32kb"),
                (1024 * 1024, "sram_64b_1mb"))


class EnergyTableError(ValueError):
    """A bad energy table; the message names the file and the entry."""


def _value(where, name, raw):
    pj = raw.get("pj") if isinstance(raw, dict) else raw
    if isinstance(raw, dict):
        unknown = set(raw) - {"pj", "unit", "source"}
        if unknown:
            raise EnergyTableError(f"{where}: entry {name!r} has unknown field(s) "
                                   f"{', '.join(sorted(unknown))} (allowed: pj, unit, source)")
        for key in ("unit", "source"):
            if key in raw and not isinstance(raw[key], str):
                raise EnergyTableError(f"{where}: entry {name!r} field {key!r} must be a string, "
                                       f"not {raw[key]!r}")
    if isinstance(pj, bool) or not isinstance(pj, (int, float)) or not math.isfinite(pj) \
            or pj <= 0:
        raise EnergyTableError(f"{where}: entry {name!r} must be a positive number of pJ "
                               f"(or an object with one as 'pj'), not {pj!r}")
    return float(pj)


def load_table(path=None):
    """The default table, with the entries of the JSON file ``path`` (if given)
    replacing the default's; validated (:class:`EnergyTableError` names the
    file and entry)."""
    table = json.loads(json.dumps(DEFAULT_TABLE))
    if path is None:
        return table
    where = str(path)
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise EnergyTableError(f"{where}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise EnergyTableError(f"{where}: expected an object with 'entries' (and optionally "
                               f"'name', 'node'), not {type(data).__name__}")
    unknown = set(data) - {"name", "node", "entries"}
    if unknown:
        raise EnergyTableError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
                               f"(allowed: name, node, entries)")
    entries = data.get("entries", {})
    if not isinstance(entries, dict):
        raise EnergyTableError(f"{where}: 'entries' must be an object of entry: pJ")
    for name, raw in entries.items():
        if name not in ENTRIES:
            raise EnergyTableError(f"{where}: unknown entry {name!r} (allowed: "
                                   f"{', '.join(ENTRIES)})")
        pj = _value(where, name, raw)
        entry = table["entries"][name]
        entry["pj"] = pj
        entry["source"] = raw.get("source", where) if isinstance(raw, dict) else where
        if isinstance(raw, dict) and "unit" in raw:
            entry["unit"] = raw["unit"]
    for key in ("name", "node"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise EnergyTableError(f"{where}: {key!r} must be a non-empty string, "
                                       f"not {data[key]!r}")
            table[key] = data[key]
    if "name" not in data:
        table["name"] = f"{DEFAULT_TABLE['name']} + {Path(path).name}"
    return table


def sram_pj(table, nbytes):
    """pJ per 64-bit access of an SRAM array of ``nbytes`` bytes: log-log
    interpolation between the table's 8 KB, 32 KB and 1 MB figures; below 8 KB
    the 8–32 KB slope continued down to the register-file figure (two 32-bit
    accesses), above 1 MB the 1 MB figure."""
    pts = [(size, table["entries"][name]["pj"]) for size, name in _SRAM_POINTS]
    if nbytes <= pts[0][0]:
        (s0, e0), (s1, e1) = pts[0], pts[1]
        slope = math.log(e1 / e0) / math.log(s1 / s0)
        floor = 2 * table["entries"]["regfile_32b"]["pj"]
        return max(floor, min(e0, e0 * (nbytes / s0) ** slope))
    if nbytes >= pts[-1][0]:
        return pts[-1][1]
    for (s0, e0), (s1, e1) in zip(pts, pts[1:]):
        if nbytes <= s1:
            t = math.log(nbytes / s0) / math.log(s1 / s0)
            return math.exp(math.log(e0) + t * (math.log(e1) - math.log(e0)))
    raise AssertionError("unreachable")


def breakdown(counts, cfg, table=None):
    """pJ per component (:data:`COMPONENTS`) of the event ``counts`` (a dict of
    :data:`golden.perf.events.EVENTS`) on configuration ``cfg``; with the total,
    the off-chip share of the total and the buffers' share of the on-chip part."""
    table = table or load_table()
    e = {k: v["pj"] for k, v in table["entries"].items()}
    sizes = buffer_bytes(cfg)
    comp = {"offchip": (counts["offchip_read_words"] + counts["offchip_write_words"])
            * cfg.mem_width / 32 * e["dram_32b"]}
    for b in BUFFERS:
        bits = counts[f"{b}_read_bits"] + counts[f"{b}_write_bits"]
        comp[b] = bits / 64 * sram_pj(table, sizes[b])
    comp["multiply"] = counts["multiplies"] * e["mult_16b"]
    comp["add"] = counts["adds"] * e["add_32b"]
    comp["nsm"] = counts["nsm_positions"] * e["nsm_position"]
    comp["encoder"] = counts["encoder_positions"] * e["encoder_position"]
    total = sum(comp.values())
    onchip = total - comp["offchip"]
    buffers = sum(comp[b] for b in BUFFERS)
    return {"components": comp, "total_pj": total,
            "offchip_share": comp["offchip"] / total if total else 0.0,
            "onchip_buffer_share": buffers / onchip if onchip else 0.0}


def program_energy(program, table=None, steps=None):
    """Events and energy of a compiled program: ``{"events": totals, "energy":
    breakdown, "layers": {name: {"events", "energy"}}}``."""
    table = table or load_table()
    ev = events(program, steps)
    return {"events": ev["total"], "energy": breakdown(ev["total"], program.cfg, table),
            "layers": {name: {"events": c, "energy": breakdown(c, program.cfg, table)}
                       for name, c in ev["layers"].items()}}


def dense_neurons(counts):
    """The event counts with every neuron vector moved dense (no Encoder, no
    bitmaps: the ``neuron_*_words_dense`` figures instead of ``neuron_*_words``) and
    the rest unchanged: the Encoder's (dynamic neuron compression's) effect."""
    out = dict(counts)
    for rw in ("read", "write"):
        out[f"offchip_{rw}_words"] += counts[f"neuron_{rw}_words_dense"] - \
            counts[f"neuron_{rw}_words"]
    out["encoder_positions"] = out["encoder_windows"] = 0
    return out


def with_width(model, bits):
    """``model`` with every layer's weights stored in ``bits``-bit slots (4, 8 or
    16; 16: raw int16 values) holding the same values: a layer's codebooks are
    padded (codes unchanged), or replaced by the values themselves at 16 bits.
    A layer already stored wider than ``bits`` is an error (its codes would not
    fit without quantizing again)."""
    import dataclasses

    from golden.contract.model import Model, decompress
    if bits not in (4, 8, 16):
        raise ValueError(f"bits must be 4, 8 or 16, not {bits!r}")
    layers = []
    for layer, dec in zip(model.layers, decompress(model)):
        if layer.slot > bits:
            raise ValueError(f"layer {layer.name!r} is stored in {layer.slot}-bit slots; "
                             f"it cannot be narrowed to {bits} bits without quantizing again")
        if bits == 16:
            values = dec["weight"].reshape(layer.shape[0], -1)[layer.mask.reshape(
                layer.shape[0], -1)]
            layers.append(dataclasses.replace(layer, bits=16, codes=values.astype(np.int64),
                                              codebooks=None, region=None, zero_code=False))
        else:
            books = np.asarray(layer.codebooks)
            padded = np.zeros((books.shape[0], 1 << bits), dtype=books.dtype)
            padded[:, :books.shape[1]] = books
            padded[:, books.shape[1]:] = books[:, -1:]   # (unused codes: the last value)
            layers.append(dataclasses.replace(layer, bits=bits, codebooks=padded))
    return Model(layers, dict(model.meta))


#: Components grouped for plots and shares: off-chip, buffers, arithmetic, NSM + Encoder.
GROUPS = {"off-chip memory": ("offchip",), "on-chip buffers": BUFFERS,
          "multiply + add": ("multiply", "add"), "NSM + Encoder": ("nsm", "encoder")}


def grouped(components):
    """``components`` (pJ per :data:`COMPONENTS`) summed per :data:`GROUPS`."""
    return {g: sum(components[c] for c in members) for g, members in GROUPS.items()}


def model_energy(model, x, cfg, *, dense=False, table=None, parts=None, per=None):
    """:func:`energy_summary` of ``model`` on input vectors ``x`` (compiled in the
    row slices ``parts``, default one program), per inference of ``per`` vectors
    (default: each vector is one inference)."""
    from golden.compiler import compile_model
    parts = parts or [slice(0, len(x))]
    programs = [compile_model(model, cfg, x[p], dense=dense) for p in parts]
    return energy_summary(programs, table, per=per or len(x))


def energy_summary(programs, table=None, per=1):
    """Energy of a run made of ``programs`` (compiled programs run one after the
    other), per inference (``per`` input vectors): ``total_pj``, ``components``,
    the shares, ``events`` (summed), and the Encoder ablation ``dense_neurons_pj``."""
    table = table or load_table()
    total, cfg = None, None
    for program in programs:
        ev = events(program)["total"]
        cfg = program.cfg
        total = ev if total is None else {k: total[k] + ev[k] for k in total}
    b = breakdown(total, cfg, table)
    nd = breakdown(dense_neurons(total), cfg, table)
    return {"table": table["name"], "per_inference_of": per,
            "total_pj": b["total_pj"] / per,
            "components": {k: v / per for k, v in b["components"].items()},
            "offchip_share": b["offchip_share"], "onchip_buffer_share": b["onchip_buffer_share"],
            "dense_neurons_pj": nd["total_pj"] / per,
            "events": total}


# --- the command line ---------------------------------------------------------------------
def _parser():
    from golden.contract.config import add_config_arguments
    p = ArgumentParser(prog="python -m golden.energy",
                       description="Energy per inference of a compressed model on the "
                                   "accelerator: event counts (performance model) x a "
                                   "per-event energy table.")
    p.add_argument("model", nargs="?", help="compressed model file (.npz, from "
                                            "python -m golden.compress)")
    add_config_arguments(p)
    p.add_argument("--dense", action="store_true", help="dense mode (no sparsity)")
    p.add_argument("--input", metavar="X.npy",
                   help="int16 .npy, one row per input vector (default: --vectors random "
                        "vectors at --density)")
    p.add_argument("--vectors", type=positive_int, default=1,
                   help="random input vectors (default 1)")
    p.add_argument("--density", type=float, default=0.5,
                   help="fraction of nonzero input neurons, in (0, 1] (default 0.5)")
    add_seed(p)
    p.add_argument("--energy-table", metavar="FILE",
                   help="JSON energy table replacing entries of the default (see the module doc)")
    p.add_argument("--print-table", action="store_true",
                   help="print the energy table in use as JSON and exit")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)

    def body():
        from golden.compiler import read_inputs
        from golden.contract.config import config_from_args
        from golden.contract.model import load
        from golden.data.synthetic import random_inputs
        from tb.run import batches
        table = load_table(args.energy_table)
        if args.print_table:
            print(json.dumps(table, indent=2))
            return 0
        if args.model is None:
            raise UsageError("give a MODEL file (or --print-table)")
        if not 0 < args.density <= 1:
            raise UsageError(f"--density must be in (0, 1], not {args.density}")
        out = output_file(args.json, "--json")
        cfg = config_from_args(args)
        model = load(args.model)
        n_in = int(np.prod(model.layers[0].shape[1:]))
        if args.input is not None:
            x = read_inputs(args.input)
            if x.shape[1] != n_in:
                raise UsageError(f"--input {args.input}: vectors of {x.shape[1]} values, the "
                                 f"model's first layer takes {n_in}")
        else:
            x = random_inputs(np.random.default_rng(args.seed), n_in, vectors=args.vectors,
                              density=args.density)
        s = model_energy(model, x, cfg, dense=args.dense, table=table,
                         parts=batches(model, x, cfg, args.dense))
        print(f"energy per inference ({'dense' if args.dense else 'sparse'} mode, Tn={cfg.tn} "
              f"Tm={cfg.tm}, table {table['name']}): {s['total_pj'] / 1e3:.2f} nJ")
        for k, v in s["components"].items():
            if v:
                print(f"  {k:9s} {v / 1e3:10.3f} nJ  {100 * v / s['total_pj']:5.1f} %")
        print(f"  off-chip share {100 * s['offchip_share']:.1f} %, buffers' share of on-chip "
              f"{100 * s['onchip_buffer_share']:.1f} %")
        if out is not None:
            atomic_json(out, {**s, "config": cfg.as_dict(), "dense": args.dense,
                              "table_entries": table["entries"]})
        return 0

    return run_main("python -m golden.energy", body)


if __name__ == "__main__":
    import sys
    sys.exit(main())
