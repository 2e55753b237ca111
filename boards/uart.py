"""8N1 UART receiver and transmitter with ``amaranth.lib.stream`` byte interfaces.

``divisor`` is clock cycles per bit (``clk_hz // baud``, at least 4).  The receiver
synchronizes ``rx`` with two flip-flops, finds the start bit's falling edge, samples
each bit in its middle, and drops a byte whose stop bit is low (``frame_error``
pulses).  It cannot be stalled: a byte is offered for one cycle (``always_ready``).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from golden.contract.params import check_int

__all__ = ["UARTRx", "UARTTx", "divisor_for"]


def divisor_for(clk_hz, baud):
    """Clock cycles per bit; raises if the error exceeds 2 % or the divisor is below 4."""
    div = round(clk_hz / baud)
    if div < 4:
        raise ValueError(f"baud {baud} is too fast for a {clk_hz / 1e6:g} MHz clock "
                         f"(need at least 4 cycles per bit)")
    if abs(clk_hz / div - baud) / baud > 0.02:
        raise ValueError(f"baud {baud} from {clk_hz / 1e6:g} MHz: {clk_hz / div:.0f} baud "
                         f"is more than 2 % off")
    return div


def _check(divisor):
    check_int("divisor", divisor, 4)     # cycles per bit


class UARTRx(wiring.Component):
    def __init__(self, divisor):
        _check(divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "frame_error": Out(1),
                          "data": Out(stream.Signature(8, always_ready=True))})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        div = self.divisor
        timer = Signal(range(2 * div))
        bit = Signal(range(10))
        shift = Signal(8)
        m.d.sync += self.data.valid.eq(0)
        m.d.sync += self.frame_error.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += [timer.eq(div // 2 - 1), bit.eq(0)]
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):           # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(div - 1)
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), timer.eq(div - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(rx):
                        m.d.sync += [self.data.valid.eq(1), self.data.payload.eq(shift)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.frame_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):     # wait for the line to go idle again
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    def __init__(self, divisor):
        _check(divisor)
        self.divisor = divisor
        super().__init__({"tx": Out(1, init=1), "data": In(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        timer = Signal(range(div))
        shift = Signal(10, init=0x3FF)
        left = Signal(range(11))
        m.d.comb += [self.tx.eq(shift[0]), self.data.ready.eq(left == 0)]
        with m.If(left == 0):
            with m.If(self.data.valid):
                m.d.sync += [shift.eq(Cat(0, self.data.payload, 1)), left.eq(10),
                             timer.eq(div - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shift.eq(Cat(shift[1:], 1)), left.eq(left - 1), timer.eq(div - 1)]
        return m
