"""The board-independent top: the accelerator, on-chip RAM behind its memory port,
and the UART host link (:mod:`boards.link`).

``BoardTop(config, mem_words, divisor, timeout)`` has the ports ``uart_rx`` (in),
``uart_tx`` (out) and ``status`` (out, 4 bits for LEDs: a program runs; a byte arrived and an ERROR
was sent, each held for ``hold_cycles``; the last run is done).  The RAM is
``mem_words`` words of ``config.mem_width``
bits; the accelerator's word addresses wrap modulo ``mem_words`` (the host checks
that the image fits).  The host link and the accelerator share the RAM's one read
and one write port: the link while no program runs, the accelerator from RUN to
done.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from boards.link import HostLink
from boards.protocol import MAX_PAYLOAD
from boards.uart import UARTRx, UARTTx
from golden.contract.config import AccelConfig
from golden.contract.params import check_int
from hdl.top import COUNTERS, Accelerator

__all__ = ["BoardTop"]


class BoardTop(wiring.Component):
    def __init__(self, config, mem_words, divisor, timeout, max_payload=MAX_PAYLOAD,
                 hold_cycles=1):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"config must be a golden.contract.config.AccelConfig, not {config!r}")
        check_int("hold_cycles", hold_cycles, 1)
        self.config, self.mem_words = config, mem_words
        self.divisor, self.timeout, self.max_payload = divisor, timeout, max_payload
        self.hold_cycles = hold_cycles
        # Built here so bad parameters fail where they enter.
        self._link = HostLink(config, mem_words, timeout, max_payload)
        self._rx, self._tx = UARTRx(divisor), UARTTx(divisor)
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                          "status": Out(4)})

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.accel = acc = Accelerator(cfg)
        m.submodules.link = link = self._link
        m.submodules.rx = rx = self._rx
        m.submodules.tx = tx = self._tx
        m.submodules.ram = ram = Memory(shape=cfg.mem_width, depth=self.mem_words, init=[])
        rd = ram.read_port()
        wr = ram.write_port()
        abits = (self.mem_words - 1).bit_length()

        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        wiring.connect(m, rx.data, link.rx)
        wiring.connect(m, link.tx, tx.data)

        m.d.comb += [acc.start.eq(link.start), acc.prog_addr.eq(link.prog_addr),
                     acc.prog_len.eq(link.prog_len), link.done.eq(acc.done),
                     link.counters.eq(Cat(*(getattr(acc, c) for c in COUNTERS)))]

        # The accelerator's read channel, two stages: the RAM's read register (held
        # while it holds data the full output register has not taken), then
        # an output register the accelerator takes its data from (ECP5 timing: the
        # block RAM's clock-to-data, 5.6 ns, no longer precedes the load unit's row
        # assembly).  A request a cycle while the data are taken.  The read
        # register reads whenever it may be overwritten, a request or not (``r1``
        # says whether it holds one): its enable, on every block RAM of the
        # memory, does not wait on the request's ``valid`` (ECP5 timing at
        # Tn = Tm = 4, seed 3: the controller's state -> the read switch ->
        # ``rd.en``, 11.2 ns, 49 loads).
        r1, r2 = Signal(), Signal()           # the read register's, the output's data valid
        r2_data = Signal(cfg.mem_width)
        r2_free = ~r2 | acc.mem_rdata.ready
        r1_free = ~r1 | r2_free
        take = acc.mem_rreq.valid & acc.mem_rreq.ready
        m.d.comb += [acc.mem_rreq.ready.eq(r1_free),
                     acc.mem_rdata.valid.eq(r2), acc.mem_rdata.payload.data.eq(r2_data),
                     acc.mem_wreq.ready.eq(1)]
        with m.If(r2_free):
            m.d.sync += [r2.eq(r1), r2_data.eq(rd.data)]
        with m.If(take):
            m.d.sync += r1.eq(1)
        with m.Elif(r2_free):
            m.d.sync += r1.eq(0)

        # Its writes are registered on the way to the RAM (ECP5 timing: the store
        # unit's packer does not run into the block RAM's data inputs): a write
        # lands a cycle after the store unit handed it over, before any read the
        # accelerator can make of it (a LOAD's first request comes two cycles
        # after it issues, and it issues after the STORE is done).
        w_valid = Signal()
        w_addr = Signal(abits)
        w_data = Signal(cfg.mem_width)
        m.d.sync += [w_valid.eq(acc.mem_wreq.valid & link.running),
                     w_addr.eq(acc.mem_wreq.payload.addr[:abits]),
                     w_data.eq(acc.mem_wreq.payload.data)]
        with m.If(link.running):
            m.d.comb += [rd.addr.eq(acc.mem_rreq.payload.addr[:abits]), rd.en.eq(r1_free),
                         wr.addr.eq(w_addr), wr.data.eq(w_data), wr.en.eq(w_valid)]
        with m.Else():
            m.d.comb += [rd.addr.eq(link.mem_raddr), rd.en.eq(link.mem_ren),
                         wr.addr.eq(link.mem_waddr), wr.data.eq(link.mem_wdata),
                         wr.en.eq(link.mem_wen)]
        m.d.comb += link.mem_rdata.eq(rd.data)

        # Status LEDs: running; a byte arrived and an ERROR was sent, each held for
        # hold_cycles so a person sees the pulse; the last run is done.
        m.d.comb += [self.status[0].eq(link.running), self.status[3].eq(acc.done)]
        for bit, event in ((1, rx.data.valid), (2, link.error)):
            hold = Signal(range(self.hold_cycles + 1), name=f"hold{bit}")
            with m.If(event):
                m.d.sync += hold.eq(self.hold_cycles)
            with m.Elif(hold != 0):
                m.d.sync += hold.eq(hold - 1)
            m.d.comb += self.status[bit].eq(hold != 0)
        return m
