"""cocotb testbench of the board top (``boards.soc.BoardTop``): a bit-level UART
model bridges the board's ``uart_rx``/``uart_tx`` pins to a TCP socket, so the
real host tool talks to the simulated board (``--port socket://127.0.0.1:PORT``).

The job comes in ``SPARSEGEN_BOARD`` (a JSON file path): ``port`` (TCP port on
127.0.0.1), ``divisor`` (clock cycles per UART bit), ``connections`` (how many
host sessions to serve, one after the other, on the same running board) and
``ready`` (a file written once the socket listens).  The UART model sends each
byte as start bit, 8 data bits LSB first, stop bit, every bit ``divisor`` clocks
long, and samples the board's ``uart_tx`` in the middle of each bit.
"""

import json
import os
import socket
import time

import cocotb
from cocotb.triggers import FallingEdge, Timer

from tb.sim.stream import reset, start_clock

PERIOD_NS = 10


async def _receive(dut, bit_ns, conn, log):
    """Decode bytes from the board's ``uart_tx`` and forward them to the host."""
    while True:
        await FallingEdge(dut.uart_tx)
        await Timer(bit_ns + bit_ns // 2, unit="ns")
        value = 0
        for i in range(8):
            value |= int(dut.uart_tx.value) << i
            await Timer(bit_ns, unit="ns")
        if int(dut.uart_tx.value) != 1:
            log.warning("uart_tx: stop bit low (framing error) after 0x%02x", value)
        try:
            conn.sendall(bytes([value]))
        except OSError:
            return


async def _send_byte(dut, bit_ns, value):
    for bit in [0] + [(value >> i) & 1 for i in range(8)] + [1]:
        dut.uart_rx.value = bit
        await Timer(bit_ns, unit="ns")


@cocotb.test()
async def board_serves_host(dut):
    with open(os.environ["SPARSEGEN_BOARD"]) as f:
        job = json.load(f)
    bit_ns = job["divisor"] * PERIOD_NS
    dut.uart_rx.value = 1
    start_clock(dut, PERIOD_NS)
    await reset(dut)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", job["port"]))
    srv.listen(1)
    srv.setblocking(False)
    with open(job["ready"], "w") as f:
        f.write(str(job["port"]))
    served = 0
    while served < job["connections"]:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            time.sleep(0.01)             # wall time: nobody is connected yet
            await Timer(100 * PERIOD_NS, unit="ns")
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        monitor = cocotb.start_soon(_receive(dut, bit_ns, conn, dut._log))
        idle = 0
        while True:
            try:
                data = conn.recv(4096)
            except BlockingIOError:
                idle += 1
                if idle > 50:
                    time.sleep(0.001)    # the host is thinking; let it have the CPU
                await Timer(10 * bit_ns, unit="ns")
                continue
            if not data:
                break
            idle = 0
            for value in data:
                await _send_byte(dut, bit_ns, value)
        # Let a reply in flight finish before the next session.
        await Timer(2000 * bit_ns, unit="ns")
        monitor.cancel()
        conn.close()
        served += 1
    srv.close()
