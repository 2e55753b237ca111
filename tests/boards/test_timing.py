"""The board clock's PLL settings (from the datasheets' ranges, not from the code)
and the reading of nextpnr's timing report."""

import pytest
from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Module, Signal

from boards.clocks import PLL, ecp5_pll, ice40_pll
from boards.timing import late_endpoints, path_summary, register_of, slack_histogram, worst_paths


@pytest.mark.parametrize("f_in, f_out", [(25e6, 100e6), (25e6, 125e6), (25e6, 62.5e6),
                                         (25e6, 64e6), (100e6, 50e6)])
def test_ecp5_pll_settings_are_in_range_and_never_fast(f_in, f_out):
    s = ecp5_pll(f_in, f_out)
    p = s.params
    assert s.f_out == pytest.approx(f_in * p["CLKFB_DIV"] / p["CLKI_DIV"])
    assert s.f_out <= f_out and s.f_out >= 0.95 * f_out
    assert 400e6 <= s.f_out * p["CLKOP_DIV"] <= 800e6           # VCO
    assert 10e6 <= f_in / p["CLKI_DIV"] <= 400e6                # phase detector
    assert p["CLKOP_CPHASE"] == p["CLKOP_DIV"] - 1


def test_ecp5_pll_hits_integer_ratios_exactly():
    # 25 MHz x 4 = 100 MHz: a divider setting exists, so nothing slower will do.
    assert ecp5_pll(25e6, 100e6).f_out == 100e6
    assert ecp5_pll(25e6, 75e6).f_out == 75e6
    # With CLKOP feedback the step is the phase detector's (>= 10 MHz: 25 / 2):
    # 33.3 MHz rounds down to 25 MHz, never up.
    assert ecp5_pll(25e6, 33.3e6).f_out == 25e6


@pytest.mark.parametrize("f_out", [24e6, 30e6, 42e6, 48e6])
def test_ice40_pll_settings_are_in_range_and_never_fast(f_out):
    s = ice40_pll(12e6, f_out)
    p = s.params
    vco = 12e6 * (p["DIVF"] + 1) / (p["DIVR"] + 1)
    assert s.f_out == pytest.approx(vco / 2 ** p["DIVQ"])
    assert 533e6 <= vco <= 1066e6 and 10e6 <= 12e6 / (p["DIVR"] + 1) <= 133e6
    assert s.f_out <= f_out and s.f_out >= 0.95 * f_out
    assert 1 <= p["FILTER_RANGE"] <= 6


def test_ice40_pll_24_mhz_from_12_is_exact():
    assert ice40_pll(12e6, 24e6).f_out == 24e6


def test_impossible_clocks_are_refused():
    with pytest.raises(ValueError, match="no ECP5 PLL setting"):
        ecp5_pll(25e6, 1e6)            # below the VCO / 128
    with pytest.raises(ValueError, match="no iCE40 PLL setting"):
        ice40_pll(12e6, 1e6)


@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_pll_drives_the_sync_domain(family):
    settings = ecp5_pll(25e6, 100e6) if family == "ecp5" else ice40_pll(12e6, 24e6)
    clk_in, out = Signal(), Signal()
    top = Module()
    top.domains.sync = ClockDomain("sync")
    top.submodules.pll = PLL(settings, clk_in)
    top.d.sync += out.eq(~out)
    text = rtlil.convert(top, ports=[clk_in, out])
    prim = "EHXPLLL" if family == "ecp5" else "SB_PLL40_PAD"
    assert f"cell \\{prim}" in text
    for name, value in settings.params.items():
        if name != "FILTER_RANGE":
            assert f"parameter \\{name} {value}" in text, name
    # held in reset until the PLL locks: a reset synchronizer on LOCK
    assert "cell \\top.pll.reset" in text and "connect \\LOCK \\locked" in text


def _seg(kind, delay, cell, port="Z", net=None, sources=()):
    seg = {"type": kind, "delay": delay,
           "from": {"cell": cell if kind == "clk-to-q" else "x", "port": "A"},
           "to": {"cell": cell, "port": port}}
    if net is not None:
        seg.update(net=net, sources=list(sources))
    return seg


def test_path_summary_counts_levels_delays_and_blocks():
    # start register in the load unit, a LUT, a three-cell carry chain, a LUT in the
    # NSM, the end register in the NSM: 3 logic levels (the carry chain once).
    cp = {"from": "posedge clk", "to": "posedge clk", "path": [
        _seg("clk-to-q", 0.5, "soc.accel.load.addr_TRELLIS_FF_Q"),
        _seg("routing", 1.0, "soc.accel.load.$abc$1_LUT4", net="a",
             sources=["/p/hdl/control/dma.py:10"]),
        _seg("logic", 0.25, "soc.accel.load.$abc$1_LUT4"),
        _seg("routing", 0.75, "\\$7_CCU2C_S0$CCU2_COMB0", net="b",
             sources=["/p/hdl/control/dma.py:11"]),
        _seg("logic", 0.5, "\\$7_CCU2C_S0$CCU2_COMB0", port="FCO"),
        _seg("routing", 0.0, "\\$7_CCU2C_S1$CCU2_COMB0", net="c"),
        _seg("logic", 0.5, "\\$7_CCU2C_S1$CCU2_COMB0", port="FCO"),
        _seg("routing", 0.0, "\\$7_CCU2C_S2$CCU2_COMB0", net="d"),
        _seg("logic", 0.5, "\\$7_CCU2C_S2$CCU2_COMB0"),
        _seg("routing", 2.0, "soc.accel.compute.slice.nsm.$abc$9_LUT4", net="e",
             sources=["/p/hdl/datapath/nsm.py:200"]),
        _seg("logic", 0.25, "soc.accel.compute.slice.nsm.$abc$9_LUT4"),
        _seg("routing", 1.0, "soc.accel.compute.slice.nsm.d_beats_TRELLIS_FF_Q", net="f",
             sources=["/p/hdl/datapath/nsm.py:201"]),
        _seg("setup", 0.25, "soc.accel.compute.slice.nsm.d_beats_TRELLIS_FF_Q"),
    ]}
    s = path_summary(cp)
    assert s["delay_ns"] == pytest.approx(7.5)
    assert s["routing_ns"] == pytest.approx(4.75) and s["logic_ns"] == pytest.approx(2.75)
    assert s["logic_levels"] == 3
    assert s["from"] == "soc.accel.load.addr_TRELLIS_FF_Q"
    assert s["to"] == "soc.accel.compute.slice.nsm.d_beats_TRELLIS_FF_Q"
    assert s["blocks"] == ["load/store units", "NSM"]
    assert s["sources"][0] == "/p/hdl/control/dma.py:10" and len(s["sources"]) == 4


@pytest.mark.parametrize("cell, block", [
    ("soc.accel.sib.1.0", "buffers (NBin, NIBin, SIB, bias, NBout) + counters"),
    ("soc.accel.bias.0.15$DPRAM_COMB0", "buffers (NBin, NIBin, SIB, bias, NBout) + counters"),
    ("soc.accel.compute.rest_LUT4_Z", "compute unit"),
    ("soc.accel.compute.slice.nsm.x_FF", "NSM"),
    ("soc.link.state_FF", "host link + UART"),
    ("soc.hold1_FF", "board top"),
    ("led1.buf.o_LUT4_Z", "board I/O"),
])
def test_cells_are_named_by_block(cell, block):
    from boards.timing import _block
    assert _block(cell, []) == block


def test_worst_paths_sorts_by_delay():
    fast = {"from": "a", "to": "a", "path": [_seg("clk-to-q", 1.0, "r"), _seg("setup", 1.0, "r")]}
    slow = {"from": "b", "to": "b", "path": [_seg("clk-to-q", 1.0, "r"), _seg("setup", 5.0, "r")]}
    assert [p["clock"] for p in worst_paths({"critical_paths": [fast, slow]})] == \
        ["b -> b", "a -> a"]
    assert worst_paths({}) == []


def test_slack_histogram_reads_the_last_one():
    log = ("Info: Slack histogram:\nInfo: [ 0, 5) |**\n\n"
           "Info: Slack histogram:\nInfo:  legend: * represents 3 endpoint(s)\n"
           "Info:          + represents [1,3) endpoint(s)\n"
           "Info: [  -500,   1000) |*+\nInfo: [  1000,   2500) |***\n\nInfo: done\n")
    assert slack_histogram(log) == [(-0.5, 1.0, 4), (1.0, 2.5, 9)]
    assert slack_histogram("no histogram") == []


@pytest.mark.parametrize("cell, register", [
    ("soc.accel.store.encoder.rem_TRELLIS_FF_Q_3", "soc.accel.store.encoder.rem"),
    ("soc.accel.store.encoder.d_final_TRELLIS_FF_Q", "soc.accel.store.encoder.d_final"),
    ("soc.accel.bias.0.15$DPRAM_COMB0", "soc.accel.bias"),
    ("soc.accel.cp.ib.0.0", "soc.accel.cp.ib"),
    ("soc.link.quiet_SB_DFFE_Q_2", "soc.link.quiet"),
])
def test_register_of_strips_what_synthesis_appends(cell, register):
    assert register_of(cell) == register


def test_late_endpoints_counts_per_block_and_register():
    def ep(cell, delay, port="DI", event="posedge clk"):
        return {"cell": cell, "port": port, "event": event, "delay": delay}
    report = {"detailed_net_timings": [
        {"net": "n1", "sources": [], "endpoints": [
            ep("soc.accel.store.encoder.rem_TRELLIS_FF_Q", [1.0, 12.5]),
            ep("soc.accel.store.encoder.rem_TRELLIS_FF_Q_1", [1.0, 11.0]),
            ep("soc.accel.store.encoder.rem_TRELLIS_FF_Q_2", [1.0, 9.9])]},   # on time
        {"net": "n2", "sources": [], "endpoints": [
            ep("soc.accel.compute.out_k_TRELLIS_FF_Q", 13.0),                # a plain number
            ep("soc.accel.bias.0.15$DPRAM_COMB0", [2.0, 10.5], "WD"),
            ep("soc.accel.bias.0.3$DPRAM_COMB1", [2.0, 10.25], "WAD0")]},
        # an LED's combinational output buffer: no clock captures it, not timed
        {"net": "status[1]", "sources": [], "endpoints": [
            ep("led1.buf.buf0", [8.1, 10.7], "I", "<async>")]},
    ]}
    late = late_endpoints(report, 10.0)
    assert late["endpoints"] == 6 and late["late"] == 5 and late["period_ns"] == 10.0
    assert late["by_block"] == [
        {"block": "Encoder", "late": 2, "worst_ns": 12.5},
        {"block": "buffers (NBin, NIBin, SIB, bias, NBout) + counters", "late": 2,
         "worst_ns": 10.5},
        {"block": "compute unit", "late": 1, "worst_ns": 13.0}]
    assert [(g["register"], g["late"], g["worst_ns"]) for g in late["by_register"]] == [
        ("soc.accel.compute.out_k", 1, 13.0), ("soc.accel.store.encoder.rem", 2, 12.5),
        ("soc.accel.bias", 2, 10.5)]
    assert late_endpoints(report, 10.0, top=1)["by_register"][0]["block"] == "compute unit"
    assert late_endpoints(report, 20.0)["late"] == 0
    # without --detailed-timing-report there is nothing to count
    assert late_endpoints({"critical_paths": []}, 10.0) is None
