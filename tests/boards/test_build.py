"""Board bitstreams with amaranth-boards and the YoWASP tools.

The iCEBreaker build runs in the suite (about two minutes): the UP5K is too small
for the smallest configuration, and the build must say so — no bitstream, exit 1,
the utilization against the device in the report, and the LUTs of each block
beside the profile's budget.  The ULX3S build (Tn = Tm = 2, the
PLL's 100 MHz; about 7 minutes) is the timing regression check, marked slow
(``make test-slow``; ``make bitstream`` builds it)."""

import json

import pytest

from boards.build import (
    BOARDS,
    _record_configuration,
    board_config,
    configurations_markdown,
    largest_at_goal,
    merge_nextpnr_opts,
)
from boards.build import main as build_main
from hdl.synth import BUDGETS

pytestmark = pytest.mark.synth


def test_unknown_board_is_refused(capsys):
    with pytest.raises(SystemExit):
        build_main(["nosuchboard"])
    assert "invalid choice" in capsys.readouterr().err


def test_icebreaker_build_fails_loudly_when_it_does_not_fit(tmp_path, capsys):
    assert build_main(["icebreaker", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED: does not fit" in err
    report = json.loads((tmp_path / "report.json").read_text())
    for key in ("fmax_mhz", "target_mhz", "luts", "dsp", "bram"):
        assert key in report
    assert report["target_mhz"] == 12.0 and report["ok"] is False and report["fits"] is False
    assert report["luts_available"] == BOARDS["icebreaker"].capacity["luts"]
    assert report["luts"] > report["luts_available"]
    assert "bitstream" not in report and not list(tmp_path.glob("*.bin"))
    assert "**FAILED**: does not fit" in (tmp_path / "report.md").read_text()
    # its row in the directory's configurations table, not counted as fitting
    table = json.loads((tmp_path / "configurations.json").read_text())
    (row,) = table["configurations"]
    assert (row["tn"], row["tm"], row["luts"], row["fits"]) == (
        report["config"]["tn"], report["config"]["tm"], report["luts"], False)
    assert "none of those built" in (tmp_path / "report.md").read_text()
    # LUTs per block of the board top beside the profile's budget (issue 19), the
    # board's own blocks among them, the total over the blocks there
    budget = {r["block"]: r for r in report["budget"]}
    allowed = BUDGETS["icebreaker"]["ice40"]
    assert set(allowed) <= set(report["blocks"]) and "other" not in report["blocks"]
    for name in ("NSM", "Encoder", "host link + UART"):
        assert budget[name]["luts"] == report["blocks"][name]["luts"] > 0
        assert budget[name]["budget"] == allowed[name]
    assert budget["total"]["luts"] == sum(b["luts"] for b in report["blocks"].values())
    md = (tmp_path / "report.md").read_text()
    assert f"| NSM | {budget['NSM']['luts']} | {allowed['NSM']} |" in md


def _report(tn, tm, fmax, fits=True, luts=1000, window_k=16):
    return {"board": "ulx3s", "config": {"tn": tn, "tm": tm, "window_k": window_k}, "luts": luts,
            "luts_available": 83640, "ffs": 10, "dsp": tn * tm, "bram": 4, "bram_available": 208,
            "fmax_mhz": fmax, "target_mhz": 100.0,
            "peak_gops": None if fmax is None else 2 * tn * tm * fmax / 1000,
            "fits": fits, "timing_met": fmax is not None and fmax >= 100.0, "build_seconds": 1.0}


def test_configurations_table_keeps_one_row_per_configuration(tmp_path, capsys):
    path = tmp_path / "configurations.json"
    _record_configuration(path, _report(2, 2, 90.0))
    _record_configuration(path, _report(8, 8, None, fits=False, luts=200_000))
    _record_configuration(path, _report(4, 4, 101.5))
    assert largest_at_goal(_record_configuration(path, _report(2, 2, 120.0)))["tn"] == 4
    rows = json.loads(path.read_text())["configurations"]
    # a rebuild replaces its row; rows go smallest first
    assert [(r["tn"], r["fmax_mhz"]) for r in rows] == [(2, 120.0), (4, 101.5), (8, None)]
    text = "\n".join(configurations_markdown(rows))
    assert "| 4 × 4 | 16·Tm = 64 | 1,000 | 10 | 16 | 4 | 101.5 | 3.248 | yes |" in text
    assert "Largest configuration that fits at ≥ 100 MHz: Tn = 4, Tm = 4, window 16·Tm " \
           "(101.5 MHz)" in text
    # below the goal or not fitting never counts
    rows = _record_configuration(path, _report(4, 4, 99.9))
    assert largest_at_goal(rows)["tn"] == 2
    assert largest_at_goal(rows[2:]) is None
    # the same Tn x Tm at another NSM window is a row of its own
    rows = _record_configuration(path, _report(4, 4, 130.0, window_k=8))
    assert [(r["key"], r["window"]) for r in rows if r["tn"] == 4] == [("4x4", 64), ("4x4-k8", 32)]
    assert "| 4 × 4 | 8·Tm = 32 |" in "\n".join(configurations_markdown(rows))
    assert largest_at_goal(rows)["key"] == "4x4-k8"
    path.write_text("not json")
    assert len(_record_configuration(path, _report(2, 2, 50.0))) == 1
    assert "not a configurations table" in capsys.readouterr().err


def test_board_nextpnr_options_give_way_to_the_users():
    board = "--placer-heap-timingweight 40 --seed 1"
    assert merge_nextpnr_opts(board, "") == board
    # an option the user gives replaces the board's (nextpnr refuses one given twice)
    assert merge_nextpnr_opts(board, "--router router2 --placer-heap-timingweight 10") == \
        "--seed 1 --router router2 --placer-heap-timingweight 10"
    assert merge_nextpnr_opts(board, "--seed=3 --placer static") == \
        "--placer-heap-timingweight 40 --seed=3 --placer static"
    assert merge_nextpnr_opts("", "--router2-tmg-ripup") == "--router2-tmg-ripup"


def test_large_configurations_take_the_boards_large_nextpnr_options():
    # The ULX3S places with HeAP weighted to timing, and from Tn * Tm = 16 on with
    # the static placer (HeAP's placement of a 4 x 4 does not route).
    spec = BOARDS["ulx3s"]
    heap, static = "--placer-heap-timingweight 40", "--placer static"
    for (tn, tm, k), opts in [((2, 2, None), heap), ((4, 2, None), heap),
                              ((2, 8, None), static), ((4, 4, 8), static), ((8, 4, 8), static)]:
        assert spec.nextpnr_for(board_config(spec, tn=tn, tm=tm, window_k=k)) == opts, (tn, tm)
    # a board without large options keeps its own
    ice = BOARDS["icebreaker"]
    assert ice.nextpnr_for(board_config(ice, tn=4, tm=4)) == ice.nextpnr_opts


def test_large_configurations_take_the_boards_window_unless_given():
    # The ULX3S builds Tn = Tm = 4 and above with the NSM window 8 * Tm (16 * Tm
    # does not route there); a window the user gives is the user's.
    spec = BOARDS["ulx3s"]
    for (tn, tm, k), window_k in [((2, 2, None), 16), ((4, 2, None), 16), ((4, 4, None), 8),
                                  ((2, 8, None), 8), ((8, 8, None), 8), ((4, 4, 16), 16),
                                  ((4, 4, 4), 4), ((2, 2, 8), 8)]:
        cfg = board_config(spec, tn=tn, tm=tm, window_k=k)
        assert (cfg.tn, cfg.tm, cfg.window_k) == (tn, tm, window_k), (tn, tm, k)
    # the board's own configuration otherwise (its buffers: IB 1 KiB)
    assert board_config(spec, tn=4, tm=4).ib_bytes == board_config(spec).ib_bytes == 1024
    ice = BOARDS["icebreaker"]
    assert board_config(ice, tn=4, tm=4).window_k == ice.config["window_k"]


@pytest.mark.slow
def test_ulx3s_bitstream_meets_timing(tmp_path):
    assert build_main(["ulx3s", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["fits"] and report["timing_met"]
    # the smallest configuration at the board's clock, from the PLL
    assert report["config"]["tn"] == report["config"]["tm"] == 2
    assert report["fmax_mhz"] >= report["target_mhz"] == 100.0
    assert report["peak_gops"] == round(2 * 2 * 2 * report["fmax_mhz"] / 1000, 3)
    pll = report["pll"]
    assert 25.0 * pll["CLKFB_DIV"] / pll["CLKI_DIV"] == 100.0
    assert report["worst_paths"] and all(p["delay_ns"] > 0 for p in report["worst_paths"])
    assert 0 < report["luts"] <= report["luts_available"]
    assert 0 < report["bram"] <= report["bram_available"]
    assert (tmp_path / "sparsegen.bit").stat().st_size > 100_000


def test_seeds_are_tried_until_one_meets_timing(tmp_path, monkeypatch):
    import boards.build as board_build
    fmax_by_seed = {3: 85.6, 5: 100.7, 7: 99.0}
    fits_by_seed = {3: True, 5: True, 7: True}
    calls = []

    def one_build(board, spec, out, log, tn, tm, clock_mhz, opts, window_k):
        calls.append(opts)
        seed = int(opts.rsplit("--seed ", 1)[1])
        r = _report(4, 4, fmax_by_seed[seed], fits=fits_by_seed[seed])
        r["config"].update(widths=[4, 8, 16], ib_bytes=1024, mem_width=32)
        r.update(platform=spec.platform, family=spec.family, mem_words=spec.mem_words,
                 baud=spec.baud, nextpnr_opts=opts, pll=None,
                 ok=r["fits"] and r["timing_met"],
                 worst_paths=[{"clock": "posedge clk -> <async>", "delay_ns": 10.7,
                               "logic_ns": 1.2, "routing_ns": 9.5, "logic_levels": 3,
                               "blocks": ["board I/O"], "from": "soc.hold1", "to": "led1",
                               "sources": []}])
        return r, None, None, None

    monkeypatch.setattr(board_build, "_build_once", one_build)
    monkeypatch.setattr(board_build, "_blocks_against_budget", lambda *args: {})

    def run(seeds):
        calls.clear()
        return board_build.build("ulx3s", tmp_path, log=lambda m: None,
                                 nextpnr_opts="--router router1", seeds=seeds)

    # the first seed that meets timing is kept; the ones after it are not tried
    r = run([3, 5, 7])
    assert calls == ["--router router1 --seed 3", "--router router1 --seed 5"]
    assert r["ok"] and r["fmax_mhz"] == 100.7
    assert r["seed_attempts"] == [{"seed": 3, "fmax_mhz": 85.6, "timing_met": False},
                                  {"seed": 5, "fmax_mhz": 100.7, "timing_met": True}]
    assert json.loads((tmp_path / "report.json").read_text())["seed_attempts"] == \
        r["seed_attempts"]
    md = (tmp_path / "report.md").read_text()
    assert "nextpnr seeds tried: 3 (85.6 MHz), 5 (100.7 MHz, met)" in md
    # a path to an LED's pad is named as not timed against the clock
    assert "Worst path (posedge clk -> <async>) (to or from a pad no clock captures" in md
    # none meets: every seed is tried and the last is kept
    fmax_by_seed[5] = 90.0
    r = run([3, 5, 7])
    assert [a["seed"] for a in r["seed_attempts"]] == [3, 5, 7]
    assert not r["ok"] and r["fmax_mhz"] == 99.0
    # one that does not fit ends the search: no placement mends it
    fits_by_seed[3] = False
    assert [a["seed"] for a in run([3, 5])["seed_attempts"]] == [3]
    # without seeds: one build, nextpnr's own seed, no attempts listed
    monkeypatch.setattr(board_build, "_build_once",
                        lambda *a: one_build(*a[:7], a[7] + " --seed 5", a[8]))
    r = run(None)
    assert calls == ["--router router1 --seed 5"] and "seed_attempts" not in r
    for bad in ([], [0], [2, 2], [1.5]):
        with pytest.raises(ValueError, match="seeds must be distinct positive integers"):
            run(bad)
