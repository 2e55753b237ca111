"""The board clock: a PLL from the board's oscillator to the accelerator's clock,
and the reset held until the PLL has locked.

:func:`ecp5_pll` and :func:`ice40_pll` choose the divider settings (the
datasheets' VCO and phase-detector ranges) for the frequency closest to the
one asked, never above it; :class:`PLL` instantiates the primitive and drives
the ``sync`` domain.
"""

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

__all__ = ["PLLSettings", "ecp5_pll", "ice40_pll", "PLL"]


@dataclass(frozen=True)
class PLLSettings:
    family: str
    f_in: float          # Hz
    f_out: float         # Hz, what the settings give
    params: dict         # the primitive's parameters


def ecp5_pll(f_in, f_out):
    """EHXPLLL with CLKOP feedback: ``f = f_in * CLKFB_DIV / CLKI_DIV``, the VCO
    ``f * CLKOP_DIV`` in 400..800 MHz, the phase detector ``f_in / CLKI_DIV`` in
    10..400 MHz."""
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 10e6 <= pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            f = pfd * clkfb
            if f > f_out:
                break
            for clkop in range(128, 0, -1):           # the fastest VCO that works
                if 400e6 <= f * clkop <= 800e6:
                    if best is None or f > best[0]:
                        best = (f, clki, clkfb, clkop)
                    break
    if best is None:
        raise ValueError(f"no ECP5 PLL setting gives {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz")
    f, clki, clkfb, clkop = best
    return PLLSettings("ecp5", f_in, f, {"CLKI_DIV": clki, "CLKFB_DIV": clkfb,
                                         "CLKOP_DIV": clkop, "CLKOP_CPHASE": clkop - 1})


def ice40_pll(f_in, f_out):
    """SB_PLL40 (simple feedback): ``f = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)``,
    the VCO ``f * 2**DIVQ`` in 533..1066 MHz, the phase detector
    ``f_in / (DIVR + 1)`` in 10..133 MHz."""
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = vco / (1 << divq)
                if f <= f_out and (best is None or f > best[0]):
                    best = (f, divr, divf, divq, pfd)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting gives {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz")
    f, divr, divf, divq, pfd = best
    filt = 1 if pfd < 17e6 else 2 if pfd < 26e6 else 3 if pfd < 44e6 else 4 \
        if pfd < 66e6 else 5 if pfd < 101e6 else 6
    return PLLSettings("ice40", f_in, f, {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                          "FILTER_RANGE": filt})


class PLL(Elaboratable):
    """Drives the ``sync`` domain (which its parent defines) at ``settings.f_out``
    from the clock input ``clk_in`` (iCE40: the oscillator's pad,
    ``SB_PLL40_PAD``), in reset until the PLL locks."""

    def __init__(self, settings, clk_in):
        self.settings, self.clk_in = settings, clk_in
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        s = self.settings
        clk = Signal(name="pll_clk")
        if s.family == "ecp5":
            p = s.params
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{s.f_in / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{s.f_out / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=p["CLKFB_DIV"],
                i_RST=0, i_STDBY=0, i_CLKI=self.clk_in, o_CLKOP=clk, i_CLKFB=clk,
                i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=self.locked)
        else:
            p = s.params
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
                p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=self.clk_in, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=clk, o_LOCK=self.locked)
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.reset = ResetSynchronizer(~self.locked, domain="sync")
        if platform is not None:
            platform.add_clock_constraint(clk, s.f_out)
        return m
