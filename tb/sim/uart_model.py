"""A bit-level UART model for Amaranth simulation (the twin of the cocotb one in
:mod:`tb.benches.test_board`): sends bytes on a design's ``rx`` pin and decodes its
``tx`` pin, 8N1, ``divisor`` clock cycles per bit, sampling mid-bit."""

from amaranth.sim import Simulator

__all__ = ["uart_session"]


def uart_session(dut, steps, divisor, rx="uart_rx", tx="uart_tx", settle_bits=20):
    """Run ``steps``, a list of ``(data, quiet_bits)``: send the bytes ``data``,
    then leave the line idle for ``quiet_bits`` bit times.  Returns, per step, the
    bytes the design transmitted from the start of that step to the start of the
    next (a reply is complete when its step's quiet time covers it)."""
    rx_pin, tx_pin = getattr(dut, rx), getattr(dut, tx)
    got = bytearray()
    marks = []

    async def host(ctx):
        ctx.set(rx_pin, 1)
        await ctx.tick().repeat(settle_bits * divisor)
        for data, quiet in steps:
            marks.append(len(got))
            for value in bytes(data):
                for bit in [0] + [(value >> i) & 1 for i in range(8)] + [1]:
                    ctx.set(rx_pin, bit)
                    await ctx.tick().repeat(divisor)
            await ctx.tick().repeat(max(1, quiet) * divisor)
        marks.append(len(got))

    async def monitor(ctx):
        while True:
            await ctx.negedge(tx_pin)
            await ctx.tick().repeat(divisor + divisor // 2)
            value = 0
            for i in range(8):
                *_, bit = await ctx.tick().sample(tx_pin)
                value |= int(bit) << i
                await ctx.tick().repeat(divisor - 1)
            got.append(value)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return [bytes(got[a:b]) for a, b in zip(marks, marks[1:])]
