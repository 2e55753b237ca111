"""Yosys synthesis of the generated PEFU: the datapath survives, and the gates compute."""

import json

import pytest

from hdl.generate import generate
from hdl.synth import (
    BOARD_FAMILIES,
    BUDGETS,
    FAMILIES,
    TOP_BLOCK,
    block_of,
    budget_rows,
    synthesize,
)
from hdl.synth import main as synth_main
from tb.runner import run

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def pefu_area(tmp_path_factory):
    out = {}
    for tm in (2, 4, 8):
        d = tmp_path_factory.mktemp(f"pefu{tm}")
        generate("pefu", d, tm=tm)
        out[tm] = {fam: synthesize(d / "pefu.v", "pefu", fam) for fam in ("ice40", "ecp5")}
    return out


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_one_hard_multiplier_per_product(pefu_area, family):
    # Tm multipliers of 16x16 bits: one SB_MAC16 / MULT18X18D each, none merged away.
    for tm, area in pefu_area.items():
        assert area[family]["dsp"] == tm, f"{family} tm={tm}: {area[family]['cells']}"


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_adder_tree_grows_with_tm(pefu_area, family):
    # Each doubling of Tm adds a tree level and Tm/2 more adders of >= 33 bits:
    # nearly that many more carry cells (the lowest bits of an adder need none)
    # and at least that many more flip-flops must appear.
    for small, big in ((2, 4), (4, 8)):
        a, b = pefu_area[small][family], pefu_area[big][family]
        extra_adders = big // 2
        min_carry = extra_adders * 30 // (2 if family == "ecp5" else 1)  # CCU2C holds 2 bits
        assert b["carry"] - a["carry"] >= min_carry, (small, big, a["carry"], b["carry"])
        assert b["ffs"] - a["ffs"] >= extra_adders * 33, (small, big, a["ffs"], b["ffs"])


def test_gate_level_ice40_netlist_matches_golden():
    # The synthesized iCE40 gates (SB_MAC16, SB_LUT4, carry, BRAM FIFO) run the
    # same cocotb testbench as the RTL.
    run("pefu", {"tm": 4}, seed=11, netlist="ice40", knobs={"outputs": 25})


def test_synth_cli_writes_area_reports(tmp_path):
    vdir = tmp_path / "verilog"
    generate("pefu", vdir, tm=2)
    assert synth_main([str(vdir), "-o", str(tmp_path), "--family", "ecp5", "-j", "1",
                       "--no-blocks"]) == 0
    report = json.loads((tmp_path / "area.json").read_text())
    assert report["families"] == ["ecp5"] and report["blocks"] is None
    assert report["modules"]["pefu"]["ecp5"]["dsp"] == 2
    md = (tmp_path / "area.md").read_text()
    assert "| pefu |" in md and "## ecp5" in md


def test_synth_cli_without_verilog_says_what_to_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        synth_main([str(tmp_path / "nothing"), "-o", str(tmp_path)])
    assert info.value.code == 2
    assert "run `make verilog`" in capsys.readouterr().err


def test_block_of_names_the_thesis_blocks():
    cases = {"top": TOP_BLOCK, "\\top.datapath.nsm": "NSM", "top.datapath.pe3.ssm": "SSM",
             "top.datapath.seq": "SSM", "top.datapath.pe0.wdm": "WDM",
             "top.datapath.pe12.pefu.fifo": "PEFU", "top.datapath.pe1": "SB + PE glue",
             "top.datapath.htree": "H-tree", "top.store.encoder": "Encoder",
             "top.store": "load/store units", "top.load.desc": "load/store units",
             "top.cp": "controller", "top.compute.tfifo": "compute unit",
             "top.datapath": "datapath glue", "board.link": "host link + UART",
             "board.accel.datapath.nsm": "NSM", "board.accel": TOP_BLOCK,
             "top.rx$61.sync": "host link + UART",
             "top.mystery": "other"}
    for path, block in cases.items():
        assert block_of(path) == block, path


def test_synth_blocks_of_whole_accelerator(tmp_path):
    """The per-block table (thesis table 5.1 shape) of the iCEBreaker's profile
    (Tn = Tm = 2, an 8-position window, compact): every block of the accelerator is
    found, the shares add up, and each block stands beside its LUT budget."""
    vdir = tmp_path / "verilog"
    generate("htree", vdir, tn=2, tm=2)
    assert synth_main([str(vdir), "-o", str(tmp_path), "--family", "ice40", "-j", "2",
                       "--profile", "icebreaker", "--no-gates"]) == 0
    report = json.loads((tmp_path / "area.json").read_text())
    assert report["blocks"]["profile"] == "icebreaker"
    config = report["blocks"]["config"]
    assert (config["tn"], config["tm"], config["window"], config["compact"],
            config["ib_bytes"]) == (2, 2, 8, True, 512)
    blocks = report["blocks"]["families"]["ice40"]["blocks"]
    for name in ("NSM", "SSM", "WDM", "PEFU", "Encoder", "H-tree", "controller",
                 "load/store units", "compute unit", TOP_BLOCK):
        assert name in blocks, name
    assert "other" not in blocks
    assert blocks["NSM"]["luts"] > 0 and blocks["PEFU"]["dsp"] >= 1
    assert sum(b["bram"] for b in blocks.values()) > 0
    md = (tmp_path / "area.md").read_text()
    assert "## Blocks of the accelerator" in md and "| NSM |" in md
    section = md.split("## Blocks of the accelerator")[1].split("####")[0]    # (not the budget)
    rows = [line.split("|") for line in section.splitlines()
            if line.startswith("| ") and not line.startswith(("| block", "| **total"))]
    assert len(rows) == len(blocks)
    for cells in rows:       # the share column is the row's LUTs over the total
        total = sum(b["luts"] for b in blocks.values())
        assert float(cells[3].strip(" %")) == pytest.approx(100 * int(cells[2]) / total, abs=0.06)
    assert sum(float(cells[3].strip(" %")) for cells in rows) == pytest.approx(100, abs=0.5)
    assert (tmp_path / "area.png").stat().st_size > 1000
    # The budget: per block its LUTs measured and allowed, the total over the blocks here.
    budget = {r["block"]: r for r in report["blocks"]["families"]["ice40"]["budget"]}
    allowed = BUDGETS["icebreaker"]["ice40"]
    for name, b in blocks.items():
        assert budget[name]["luts"] == b["luts"] and budget[name]["budget"] == allowed.get(name)
    assert budget["host link + UART"]["luts"] is None          # (the board's, not the core's)
    assert budget["total"]["over"] == sum(b["luts"] for b in blocks.values()) - sum(
        allowed[name] for name in blocks if name in allowed)
    table = md.split("LUTs against the profile's budget")[1]
    assert f"| NSM | {blocks['NSM']['luts']} | {allowed['NSM']} |" in table


def test_budget_rows_by_hand():
    # Two blocks over their budget (most over first), one within, one without a
    # budget (all of it over), one budgeted block absent; the total over those here.
    blocks = {"NSM": {"luts": 900}, "SSM": {"luts": 100}, "PEFU": {"luts": 500},
              "other": {"luts": 30}}
    budget = {"NSM": 600, "SSM": 250, "PEFU": 450, "board RAM": 100}
    assert budget_rows(blocks, budget) == [
        ("NSM", 900, 600, 300), ("PEFU", 500, 450, 50), ("other", 30, None, 30),
        ("SSM", 100, 250, -150), ("board RAM", None, 100, None), ("total", 1530, 1300, 230)]


def test_synth_rejects_an_unknown_profile(tmp_path, capsys):
    vdir = tmp_path / "verilog"
    generate("htree", vdir, tn=2, tm=2)
    with pytest.raises(SystemExit) as info:
        synth_main([str(vdir), "-o", str(tmp_path), "--profile", "upduino"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--profile" in err and "icebreaker" in err and "'upduino'" in err


def test_gates_of_a_module_count_its_own_transistors(tmp_path):
    # Generic synthesis of the PEFU at Tm = 2: its multipliers are gates now
    # (no DSP), so it is tens of thousands of transistors; a submodule's are
    # not counted twice (the hierarchy's figures nest).
    from hdl.synth import gates_blocks
    generate("pefu", tmp_path, tm=2)
    got = gates_blocks(tmp_path / "pefu.v", "pefu")["blocks"]
    total = sum(b["transistors"] for b in got.values())
    assert 10_000 < total < 200_000
    generate("pefu", tmp_path / "four", tm=4)
    four = gates_blocks(tmp_path / "four" / "pefu.v", "pefu")["blocks"]
    assert sum(b["transistors"] for b in four.values()) > 1.6 * total


def test_gates_table_shares_by_hand():
    from hdl.synth import gates_markdown
    blocks = {"NSM": {"ge": 100, "memory_bits": 0}, "Encoder": {"ge": 50, "memory_bits": 0},
              "controller": {"ge": 25, "memory_bits": 4096}, "compute unit": {"ge": 25},
              "PEFU": {"ge": 600}, "WDM": {"ge": 200}, "SSM": {"ge": 0}}
    md = gates_markdown({"hand": blocks})
    # whole: 1000 GE; NSM 10 %, Encoder 5 %, CP (controller + compute unit) 5 %,
    # NFU (PEFU + WDM) 80 %; of the NFU: PEFU 75 %, WDM 25 %
    for row, share in (("NSM of the whole", "10.0"), ("Encoder of the whole", "5.0"),
                       ("CP of the whole", "5.0"), ("NFU of the whole", "80.0"),
                       ("PEFU of the NFU", "75.0"), ("WDM of the NFU", "25.0"),
                       ("SSM of the NFU", "0.0")):
        line = next(x for x in md.splitlines() if x.startswith(f"| {row} |"))
        assert line.split("|")[3].strip() == f"{share} %", line
    assert "| **logic, GE** | | 1,000 |" in md and "| memory, bits | | 4,096 |" in md


def test_board_flow_maps_wide_luts_on_ecp5(tmp_path):
    # A registered 16:1 multiplexer (20 inputs): the board flow builds it from
    # LUT4s joined by the slice's PFUMX / L6MUX21 (fewer LUT levels); the area
    # flow from LUT4s alone.  iCE40 has no wide LUTs: its board flow is its own.
    src = tmp_path / "mux.v"
    src.write_text("module mux(input clk, input [15:0] d, input [3:0] s, output reg q);\n"
                   "  always @(posedge clk) q <= d[s];\nendmodule\n")
    area = synthesize(src, "mux", "ecp5")
    board = synthesize(src, "mux", "ecp5", flows=BOARD_FAMILIES)
    wide = ("PFUMX", "L6MUX21")
    assert not any(c in area["cells"] for c in wide), area["cells"]
    assert any(board["cells"].get(c, 0) > 0 for c in wide), board["cells"]
    assert board["ffs"] == area["ffs"] == 1
    assert BOARD_FAMILIES["ice40"] == FAMILIES["ice40"]
