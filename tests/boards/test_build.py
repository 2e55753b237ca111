"""Board bitstreams with amaranth-boards and the YoWASP tools.

The iCEBreaker build runs in the suite (about a minute): the UP5K is too small for
the smallest configuration, and the build must say so — no bitstream, exit 1, the
utilization against the device in the report.  The ULX3S build (Tn = Tm = 2, the
PLL's 50 MHz; about 6 minutes) is the timing regression check, marked slow
(``make test-slow``; ``make bitstream`` builds it)."""

import json

import pytest

from boards.build import BOARDS
from boards.build import main as build_main

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


@pytest.mark.slow
def test_ulx3s_bitstream_meets_timing(tmp_path):
    assert build_main(["ulx3s", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["fits"] and report["timing_met"]
    # the smallest configuration at the board's clock, from the PLL
    assert report["config"]["tn"] == report["config"]["tm"] == 2
    assert report["fmax_mhz"] >= report["target_mhz"] == 50.0
    pll = report["pll"]
    assert 25.0 * pll["CLKFB_DIV"] / pll["CLKI_DIV"] == 50.0
    assert report["worst_paths"] and all(p["delay_ns"] > 0 for p in report["worst_paths"])
    assert 0 < report["luts"] <= report["luts_available"]
    assert 0 < report["bram"] <= report["bram_available"]
    assert (tmp_path / "sparsegen.bit").stat().st_size > 100_000
