"""The area estimate (hdl.estimate): its memory inventory against the elaborated
design, its memory mapping against Yosys, its fit against the calibration runs,
and (make test-slow) against fresh Yosys runs of configurations kept out of the fit."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from golden.contract.config import small_config
from hdl.estimate import estimate
from hdl.estimate.fit import CALIBRATION, DATA, HELDOUT, config_of, spec_name
from hdl.estimate.memories import Mem, elaborated, inventory, map_memory
from hdl.synth import BLOCKS, TOP_BLOCK

CALIB = json.loads(DATA.read_text())


@pytest.mark.parametrize("spec", [dict(tn=2, tm=2, window_k=16), dict(tn=1, tm=8, window_k=4),
                                  dict(tn=4, tm=4, window_k=8, widths=(16,), mem_width=32),
                                  dict(tn=8, tm=2, window_k=16, widths=(4, 16), sb_bytes=4096)],
                         ids=spec_name)
def test_inventory_is_every_memory_of_the_elaborated_design(spec):
    from hdl.top import Accelerator
    cfg = config_of(spec)
    listed = {}
    for m in inventory(cfg):
        key = (m.block, m.depth, m.width, m.sync, m.comb)
        listed[key] = listed.get(key, 0) + m.count
    assert listed == elaborated(Accelerator(cfg))


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_memory_rule_maps_every_characterized_shape_as_yosys(family):
    # calibration.json holds Yosys' mapping of each memory shape alone; the
    # rule must give the same block RAM count without Yosys.
    table = CALIB["memories"][family]
    assert len(table) >= 30
    for key, rec in table.items():
        dw, ports = key.split(":")
        depth, width = map(int, dw.split("x"))
        sync, comb = map(int, ports.rstrip("c").split("s"))
        got = map_memory(family, Mem("b", "m", depth, width, sync, comb, 1))
        assert got["bram"] == rec["bram"], (family, key, got, rec)
        # (the LUTs and FFs around an uncharacterized shape: the rule, close to Yosys)
        for k in ("luts", "ffs"):
            assert abs(got[k] - rec[k]) <= max(64, 0.05 * rec[k]), (family, key, k, got, rec)
        assert not got["measured"]
        assert map_memory(family, Mem("b", "m", depth, width, sync, comb, 3),
                          table)["luts"] == 3 * rec["luts"]


def test_memory_rule_by_hand():
    # ECP5: 16 words fit one distributed cell column; a 256 x 16 table is one
    # DP16KD (1024 x 18); two read ports need two copies; an asynchronous read
    # port rules block RAM out.  iCE40: no distributed RAM, so a 16 x 16 table
    # still takes a 256 x 16 SB_RAM40_4K.
    assert map_memory("ecp5", Mem("b", "m", 16, 16, 1, 0, 1))["mapping"] == "distributed"
    assert map_memory("ecp5", Mem("b", "m", 256, 16, 1, 0, 3))["bram"] == 3
    assert map_memory("ecp5", Mem("b", "m", 512, 64, 2, 0, 1))["bram"] == 2 * 2
    assert map_memory("ecp5", Mem("b", "m", 256, 64, 1, 1, 1))["bram"] == 0
    assert map_memory("ice40", Mem("b", "m", 16, 16, 1, 0, 1))["bram"] == 1
    assert map_memory("ice40", Mem("b", "m", 1024, 128, 1, 0, 1))["bram"] == 4 * 8


def test_model_is_the_fit_of_the_calibration_runs_alone():
    # model.json is what refit() makes of calibration.json, and the held-out
    # configurations are no part of it
    from hdl.estimate.fit import MODEL, refit
    fitted = json.loads(MODEL.read_text())
    assert fitted["families"] == json.loads(json.dumps(refit(CALIB)))["families"]
    assert {spec_name(s) for s in fitted["configs"]} == {spec_name(s) for s in CALIBRATION}
    assert not {spec_name(s) for s in HELDOUT} & {spec_name(s) for s in CALIBRATION}
    changed = {**CALIB, "records": [r for r in CALIB["records"]
                                    if spec_name(r["spec"]) != spec_name(CALIBRATION[0])]}
    assert refit(changed)["families"] != fitted["families"]


def test_stored_held_out_runs_and_leave_one_out_within_ten_percent():
    # the Yosys runs stored with the data (make test-slow repeats the held-out
    # ones afresh): the fit predicts configurations it never saw
    from hdl.estimate.fit import errors, leave_one_out
    held = errors(CALIB, json.loads((DATA.parent / "model.json").read_text()))
    assert set(held) == {"ice40", "ecp5"}
    for per in (held, leave_one_out(CALIB)):
        for fam, errs in per.items():
            assert errs and all(abs(e) <= 10 for e in errs.values()), (fam, errs)
    assert len(held["ecp5"]) == len(HELDOUT)


def test_characterize_one_memory_as_the_table_has_it():
    # Yosys on one memory alone, as the fit characterizes every shape
    from hdl.estimate.fit import characterize
    for family in ("ecp5", "ice40"):
        assert characterize(16, 16, 1, 0, family) == CALIB["memories"][family]["16x16:1s0c"]


def _measured_total(record, family, key):
    return sum(b.get(key, 0) for b in record["families"][family]["blocks"].values())


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_fit_reproduces_the_calibration_runs(family):
    names = {spec_name(s) for s in CALIBRATION}
    records = [r for r in CALIB["records"] if spec_name(r["spec"]) in names
               and family in r["families"]]
    assert len(records) == len(CALIBRATION)
    worst = 0
    for r in records:
        cfg = config_of(r["spec"])
        est = estimate(cfg, family)
        for key in ("dsp", "bram"):
            assert est["total"][key] == _measured_total(r, family, key), (spec_name(r["spec"]),
                                                                          key)
        luts = _measured_total(r, family, "luts")
        worst = max(worst, abs(est["total"]["luts"] - luts) / luts)
    assert worst <= 0.10, f"worst in-sample LUT error {100 * worst:.1f} %"


def test_estimate_blocks_are_the_synthesis_blocks_and_sum_to_the_total():
    cfg = small_config(4, 4)
    names = {b for b, _ in BLOCKS} | {TOP_BLOCK}
    for family in ("ice40", "ecp5", "gates"):
        est = estimate(cfg, family)
        assert set(est["blocks"]) <= names
        for key, value in est["total"].items():
            assert value == sum(b[key] for b in est["blocks"].values())
    # more PEs, more area; a smaller window, a smaller NSM
    assert estimate(small_config(8, 4), "ecp5")["total"]["luts"] > \
        estimate(small_config(4, 4), "ecp5")["total"]["luts"]
    assert estimate(small_config(4, 8, window_k=4), "ecp5")["blocks"]["NSM"]["luts"] < \
        estimate(small_config(4, 8, window_k=16), "ecp5")["blocks"]["NSM"]["luts"]


def test_estimate_cli_json(tmp_path):
    out = tmp_path / "e.json"
    proc = subprocess.run([sys.executable, "-m", "hdl.estimate", "--tn", "4", "--tm", "4",
                           "--window", "32", "--widths", "8,16", "--family", "ice40",
                           "--json", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(out.read_text())
    assert rec["config"]["window_k"] == 8 and rec["config"]["widths"] == [8, 16]
    assert set(rec["total"]) >= {"luts", "ffs", "dsp", "bram", "spram"}
    for block in rec["blocks"].values():
        assert set(block) >= {"luts", "ffs", "dsp", "bram"}
    assert "| **total** |" in proc.stdout
    want = estimate(config_of(dict(tn=4, tm=4, window_k=8, widths=(8, 16), lut_tables=2)),
                    "ice40")
    assert rec["config"]["lut_tables"] == 2 and rec["total"] == want["total"]
    # The lanes' tables are rows of a memory word's 16-bit entries (a LUT LOAD
    # writes a word at once; this configuration's word is 32 bits): 2 x 256
    # entries are 256 rows of 32 bits, two SB_RAM40_4K (256 x 16) side by side
    # per lane; one table per PE (128 rows) takes as many.
    one = tmp_path / "one.json"
    proc = subprocess.run([sys.executable, "-m", "hdl.estimate", "--tn", "4", "--tm", "4",
                           "--window", "32", "--widths", "8,16", "--family", "ice40",
                           "--lut-tables", "1", "--json", str(one)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert rec["config"]["mem_width"] == 32 and rec["blocks"]["WDM"]["bram"] == 16 * 2
    assert json.loads(one.read_text())["total"]["bram"] == rec["total"]["bram"]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["ecp5", "ice40"])
@pytest.mark.parametrize("spec", HELDOUT, ids=spec_name)
def test_estimate_within_ten_percent_of_yosys_on_held_out_configurations(spec, family):
    # Configurations never used in the fit, synthesized afresh.
    from amaranth.back import verilog

    from hdl.synth import synthesize_blocks
    from hdl.top import Accelerator
    assert spec_name(spec) not in {spec_name(s) for s in CALIBRATION}
    cfg = config_of(spec)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "top.v"
        path.write_text(verilog.convert(Accelerator(cfg), name="top", emit_src=False))
        got = synthesize_blocks(path, "top", family)["blocks"]
    est = estimate(cfg, family)["total"]
    measured = {k: sum(b[k] for b in got.values()) for k in ("luts", "dsp", "bram")}
    assert est["dsp"] == measured["dsp"] and est["bram"] == measured["bram"], (est, measured)
    err = (est["luts"] - measured["luts"]) / measured["luts"]
    assert abs(err) <= 0.10, f"{spec_name(spec)} {family}: estimate {est['luts']} LUTs, " \
                             f"Yosys {measured['luts']} ({100 * err:+.1f} %)"


def test_gate_columns_of_table_5_1():
    # make synth's table 5.1: the measured column carries each block's memory bits
    # from the inventory; the thesis column is the estimate at Tn = Tm = 16.
    from golden.contract.config import THESIS
    from hdl.synth import _gates_columns
    cfg = small_config(2, 2)
    measured = {"blocks": {"NSM": {"transistors": 4000}, "PEFU": {"transistors": 8002}}}
    cols = _gates_columns(cfg, measured)
    mine, thesis = cols.values()
    assert mine["NSM"]["ge"] == 1000 and mine["PEFU"]["ge"] == 2000
    bits = sum(m.depth * m.width * m.count for m in inventory(cfg))
    assert sum(b["memory_bits"] for b in mine.values()) == bits
    est = estimate(THESIS, "gates")
    assert {b: r["ge"] for b, r in thesis.items()} == {b: r["ge"] for b, r in
                                                       est["blocks"].items()}
    assert est["total"]["ge"] > 10 * sum(b["ge"] for b in mine.values())
