"""Calibrate the area estimate: ``python -m hdl.estimate.fit [--measure WHICH] [-j N]``.

Synthesizes the whole accelerator with Yosys at every configuration of
:data:`CALIBRATION` (and, with ``--measure heldout``, :data:`HELDOUT`) for each
family, per block (``hdl.synth.synthesize_blocks``), characterizes every memory
shape those configurations hold on its own, and refits the model.  Everything
measured is kept in ``hdl/estimate/calibration.json`` (written after each
configuration, so an interrupted run resumes where it stopped); the fitted
coefficients go to ``hdl/estimate/model.json``.  ``--refit`` refits from the
data alone, without Yosys.

The held-out configurations are never used in the fit: ``make test-slow``
synthesizes them afresh and holds the estimate to them (``tests/hdl/test_estimate.py``).
"""

import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from golden.cli import ArgumentParser, add_jobs, atomic_json, run_main

__all__ = ["CALIBRATION", "HELDOUT", "DATA", "MODEL", "FEATURES", "config_of", "spec_name",
           "measure", "characterize", "features", "refit", "errors", "leave_one_out", "main"]

HERE = Path(__file__).parent
DATA = HERE / "calibration.json"
MODEL = HERE / "model.json"

#: The configurations the model is fitted on: ``small_config`` keyword arguments.
CALIBRATION = (
    dict(tn=1, tm=2, window_k=16), dict(tn=2, tm=2, window_k=16), dict(tn=4, tm=2, window_k=16),
    dict(tn=8, tm=2, window_k=16), dict(tn=1, tm=4, window_k=8), dict(tn=2, tm=4, window_k=16),
    dict(tn=4, tm=4, window_k=8), dict(tn=4, tm=4, window_k=16), dict(tn=8, tm=4, window_k=8),
    dict(tn=2, tm=8, window_k=4), dict(tn=4, tm=8, window_k=4), dict(tn=8, tm=8, window_k=4),
    dict(tn=1, tm=4, window_k=16, mem_width=32, ib_bytes=4096, sb_bytes=4096, widths=(16,)),
    dict(tn=4, tm=4, window_k=8, nbout_bytes=2048, sib_bytes=2048, nbin_bytes=4096,
         nibin_bytes=256, widths=(8, 16)),
)
#: Configurations kept out of the fit, to measure its error on.
HELDOUT = (
    dict(tn=2, tm=4, window_k=8), dict(tn=2, tm=4, window_k=16, mem_width=32, sb_bytes=8192,
                                      widths=(4, 16)),
    dict(tn=1, tm=8, window_k=8),
)

#: Families fitted (``gates``: Yosys generic synthesis, transistors of ``stat -tech cmos``).
FAMILIES = ("ice40", "ecp5", "gates")


def config_of(spec):
    """The :class:`~golden.contract.config.AccelConfig` of a calibration entry.  The
    entries are designs with one lookup table per PE (``lut_tables=1``, as they
    were measured): a second table deepens only the WDM's memories, which the
    inventory and the mapping rule count exactly (:mod:`.memories`)."""
    from golden.contract.config import small_config
    spec = {"lut_tables": 1, **spec}
    if "widths" in spec:
        spec["widths"] = tuple(spec["widths"])
    return small_config(**spec)


def spec_name(spec):
    """A calibration entry's name: ``TNxTM-kK`` and any other field."""
    rest = [f"{k}={v if not isinstance(v, (list, tuple)) else '/'.join(map(str, v))}"
            for k, v in sorted(spec.items()) if k not in ("tn", "tm", "window_k")]
    return "-".join([f"{spec['tn']}x{spec['tm']}-k{spec.get('window_k', 16)}", *rest])


def measure(spec, families=FAMILIES, progress=print):
    """Synthesize ``Accelerator(config_of(spec))`` per block for each family."""
    from amaranth.back import verilog

    from hdl.synth import gates_blocks, synthesize_blocks
    from hdl.top import Accelerator
    cfg = config_of(spec)
    start = time.perf_counter()
    text = verilog.convert(Accelerator(cfg), name="top", emit_src=False)
    record = {"spec": {k: list(v) if isinstance(v, tuple) else v for k, v in spec.items()},
              "config": cfg.as_dict(), "generation_seconds": round(time.perf_counter() - start, 2),
              "lines": text.count("\n"), "families": {}}
    with tempfile.TemporaryDirectory(prefix="estimate-fit-") as tmp:
        path = Path(tmp) / "top.v"
        path.write_text(text)
        for fam in families:
            result = gates_blocks(path, "top") if fam == "gates" else \
                synthesize_blocks(path, "top", fam)
            record["families"][fam] = result
            key = "transistors" if fam == "gates" else "luts"
            progress(f"  {spec_name(spec):28s} {fam:6s} "
                     f"{sum(b[key] for b in result['blocks'].values()):8d} {key} "
                     f"({result['seconds']:.0f} s)")
    return record


def characterize(depth, width, sync, comb, family):
    """Yosys on one memory alone (one write port, ``sync`` synchronous and ``comb``
    asynchronous read ports): ``{"bram", "luts", "ffs"}``."""
    from amaranth.back import verilog
    from amaranth.hdl import Module, unsigned
    from amaranth.lib import wiring
    from amaranth.lib.memory import Memory
    from amaranth.lib.wiring import In, Out

    from hdl.synth import synthesize

    class One(wiring.Component):
        def __init__(self):
            members = {"waddr": In(range(depth)), "wdata": In(width), "we": In(1)}
            for i in range(sync + comb):
                members[f"raddr{i}"] = In(range(depth))
                members[f"rdata{i}"] = Out(width)
                if i < sync:
                    members[f"ren{i}"] = In(1)
            super().__init__(members)

        def elaborate(self, platform):
            m = Module()
            m.submodules.mem = mem = Memory(shape=unsigned(width), depth=depth, init=[])
            wr = mem.write_port()
            m.d.comb += [wr.addr.eq(self.waddr), wr.data.eq(self.wdata), wr.en.eq(self.we)]
            for i in range(sync + comb):
                rd = mem.read_port(domain="sync" if i < sync else "comb")
                m.d.comb += [rd.addr.eq(getattr(self, f"raddr{i}")),
                             getattr(self, f"rdata{i}").eq(rd.data)]
                if i < sync:
                    m.d.comb += rd.en.eq(getattr(self, f"ren{i}"))
            return m

    with tempfile.TemporaryDirectory(prefix="estimate-mem-") as tmp:
        path = Path(tmp) / "mem.v"
        path.write_text(verilog.convert(One(), name="mem", emit_src=False))
        r = synthesize(path, "mem", family)
    return {"bram": r["bram"], "luts": r["luts"], "ffs": r["ffs"]}


#: The features of each block's logic (what is left after its memories), as
#: functions of the configuration: the model is a non-negative sum of them.
def _log2(x):
    return max(1, int(x).bit_length() - 1)


FEATURES = {
    "1": lambda c: 1,
    "tn": lambda c: c.tn,
    "tm": lambda c: c.tm,
    "tn*tm": lambda c: c.tn * c.tm,
    "tn*tm*tm": lambda c: c.tn * c.tm * c.tm,
    "tn*tm*log2tm": lambda c: c.tn * c.tm * _log2(c.tm),
    "tn*tm*w4": lambda c: c.tn * c.tm * (4 in c.widths),
    "tn*tm*w8": lambda c: c.tn * c.tm * (8 in c.widths),
    "W": lambda c: c.window,
    "W*log2W": lambda c: c.window * _log2(c.window),
    "tn*W": lambda c: c.tn * c.window,
    "tm*W": lambda c: c.tm * c.window,
    "mem_width": lambda c: c.mem_width,
}
#: Which features each block's logic may use (the rest are zero).
BLOCK_FEATURES = {
    "NSM": ("1", "W", "W*log2W", "tm*W"),
    "Encoder": ("1", "tn", "W", "tn*W"),
    "H-tree": ("1", "tn*tm", "tm"),
    "PEFU": ("1", "tn", "tn*tm"),
    "WDM": ("1", "tn", "tn*tm", "tn*tm*w4", "tn*tm*w8"),
    "SSM": ("1", "tn", "tn*tm", "tn*tm*log2tm", "tn*tm*tm", "tn*tm*w4", "tn*tm*w8", "tm*W", "W"),
    "SB + PE glue": ("1", "tn", "tn*tm"),
    "datapath glue": ("1", "tn", "tm", "tn*tm", "W"),
    "controller": ("1", "mem_width"),
    "load/store units": ("1", "tn", "tm", "W", "mem_width"),
    "compute unit": ("1", "tn", "tm", "W"),
    "buffers (NBin, NIBin, SIB, bias, NBout) + counters": ("1", "tn", "W", "mem_width"),
}


def features(cfg, block):
    """The feature vector of ``block`` at ``cfg`` (zeros where the block does not use one)."""
    use = BLOCK_FEATURES.get(block, ("1",))
    return np.array([FEATURES[f](cfg) if f in use else 0.0 for f in FEATURES])


def _memory_part(cfg, family, block, table):
    from hdl.estimate.memories import inventory, map_memory
    out = {"luts": 0, "ffs": 0, "bram": 0}
    for mem in inventory(cfg):
        if mem.block == block:
            r = map_memory(family, mem, table)
            for k in out:
                out[k] += r[k]
    return out


def refit(data):
    """Fit the model to ``data`` (the calibration records): per family and block,
    non-negative least squares of LUTs and FFs (memories taken out first) on the
    block's features, and DSPs as whole multiples of the features."""
    from scipy.optimize import nnls
    names = {spec_name(s) for s in CALIBRATION}
    records = [r for r in data["records"] if spec_name(r["spec"]) in names]
    model = {"features": list(FEATURES), "families": {}, "configs": [r["spec"] for r in records]}
    for fam in FAMILIES:
        recs = [r for r in records if fam in r["families"]]
        if not recs:
            continue
        table = data.get("memories", {}).get(fam, {})
        blocks = sorted({b for r in recs for b in r["families"][fam]["blocks"]})
        fitted = {}
        for block in blocks:
            rows, targets = [], {}
            for r in recs:
                cfg = config_of(r["spec"])
                got = r["families"][fam]["blocks"].get(block, {})
                rows.append(features(cfg, block))
                mem = _memory_part(cfg, fam, block, table) if fam != "gates" else \
                    {"luts": 0, "ffs": 0, "bram": 0}
                for key in (("transistors",) if fam == "gates" else ("luts", "ffs", "dsp")):
                    take = mem.get(key, 0)
                    targets.setdefault(key, []).append(got.get(key, 0) - take)
            A = np.array(rows)
            coef = {}
            for key, y in targets.items():
                x, _ = nnls(A, np.array(y, dtype=float))
                if key == "dsp":
                    x = np.round(x)
                coef[key] = [round(float(v), 4) for v in x]
            fitted[block] = coef
        model["families"][fam] = fitted
    return model


def errors(data, model, records=None):
    """``{family: {config name: LUT error in %}}`` of ``model`` on ``records``
    (default: the held-out records of ``data``)."""
    from hdl.estimate import estimate_with
    held = {spec_name(s) for s in HELDOUT}
    records = [r for r in data["records"] if spec_name(r["spec"]) in held] \
        if records is None else records
    out = {}
    for fam in FAMILIES:
        if fam == "gates":
            continue
        for r in records:
            if fam not in r["families"] or fam not in model["families"]:
                continue
            est = estimate_with(model, data.get("memories", {}), config_of(r["spec"]), fam)
            luts = sum(b["luts"] for b in r["families"][fam]["blocks"].values())
            out.setdefault(fam, {})[spec_name(r["spec"])] = \
                round(100 * (est["total"]["luts"] - luts) / luts, 1)
    return out


def leave_one_out(data):
    """Each calibration record's LUT error under a fit of the others."""
    names = {spec_name(s) for s in CALIBRATION}
    records = [r for r in data["records"] if spec_name(r["spec"]) in names]
    out = {}
    for i, r in enumerate(records):
        rest = {**data, "records": records[:i] + records[i + 1:]}
        for fam, errs in errors(data, refit(rest), [r]).items():
            out.setdefault(fam, {}).update(errs)
    return out


def _all_shapes(specs):
    from hdl.estimate.memories import inventory, shape_key
    shapes = {}
    for spec in specs:
        for mem in inventory(config_of(spec)):
            shapes[shape_key(mem)] = (mem.depth, mem.width, mem.sync, mem.comb)
    return shapes


def _load():
    if DATA.exists():
        return json.loads(DATA.read_text())
    return {"records": [], "memories": {}}


def main(argv=None):
    parser = ArgumentParser(prog="python -m hdl.estimate.fit",
                            description="Synthesize the calibration configurations with Yosys "
                                        "and refit the area estimate.")
    parser.add_argument("--measure", choices=("calibration", "heldout", "all", "none"),
                        default="calibration",
                        help="which configurations to synthesize when not measured yet "
                             "(default calibration; none: refit from the data alone)")
    parser.add_argument("--refit", action="store_true", help="same as --measure none")
    parser.add_argument("--again", action="store_true",
                        help="synthesize again configurations already measured")
    parser.add_argument("--family", action="append", choices=FAMILIES,
                        help="families to measure (repeatable; default all)")
    add_jobs(parser, "parallel Yosys runs")
    args = parser.parse_args(argv)
    return run_main("python -m hdl.estimate.fit", lambda: _main(args), errors=(RuntimeError,))


def _main(args):
    data = _load()
    # (configurations no longer in either set are dropped)
    wanted = {spec_name(s) for s in CALIBRATION + HELDOUT}
    stale = [r for r in data["records"] if spec_name(r["spec"]) not in wanted]
    for r in stale:
        print(f"dropping {spec_name(r['spec'])}: neither a calibration nor a held-out "
              f"configuration", flush=True)
        data["records"].remove(r)
    which = "none" if args.refit else args.measure
    specs = {"calibration": CALIBRATION, "heldout": HELDOUT, "all": CALIBRATION + HELDOUT,
             "none": ()}[which]
    families = tuple(args.family or FAMILIES)

    def known(spec):
        for r in data["records"]:
            if spec_name(r["spec"]) == spec_name(spec):
                return r
        return None

    todo = [s for s in specs if args.again or known(s) is None
            or not set(families) <= set(known(s)["families"])]
    # Memory shapes first (seconds each), then the configurations, largest first.
    shapes = _all_shapes(CALIBRATION + HELDOUT)
    mem_jobs = [(fam, key, shape) for fam in families if fam != "gates"
                for key, shape in shapes.items()
                if key not in data["memories"].get(fam, {})]
    if specs and mem_jobs:
        print(f"characterizing {len(mem_jobs)} memory shapes ...", flush=True)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for (fam, key, _), rec in zip(mem_jobs, pool.map(
                    lambda j: characterize(*j[2], j[0]), mem_jobs)):
                data["memories"].setdefault(fam, {})[key] = rec
        atomic_json(DATA, data)
    todo.sort(key=lambda s: -s["tn"] * s["tm"] * s.get("window_k", 16))
    if todo:
        print(f"synthesizing {len(todo)} configurations for {', '.join(families)} "
              f"(minutes each) ...", flush=True)

    def work(spec):
        old = known(spec)
        missing = tuple(f for f in families
                        if args.again or old is None or f not in old["families"])
        return spec, measure(spec, missing)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for spec, record in pool.map(work, todo):
            old = known(spec)
            if old is not None:
                data["records"].remove(old)
                record["families"] = {**old["families"], **record["families"]}
            data["records"].append(record)
            atomic_json(DATA, data)
    model = refit(data)
    atomic_json(MODEL, model)
    print(f"{DATA}: {len(data['records'])} configurations; wrote {MODEL}")
    for what, errs in (("leave-one-out", leave_one_out(data)), ("held out", errors(data, model))):
        for fam, per in errs.items():
            print(f"  {what:13s} {fam:5s} LUT error: " +
                  ", ".join(f"{k} {v:+.1f} %" for k, v in per.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
