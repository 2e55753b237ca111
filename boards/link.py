"""The board side of the host link: parses the frames of :mod:`boards.protocol` from
a UART byte stream, executes them on the board's memory and the accelerator, and
answers.  See :mod:`boards.protocol` for the frames and the error rules.

``HostLink(config, mem_words, timeout, max_payload)``:

* ``rx`` (in, byte stream, never stalled) and ``tx`` (out, byte stream);
* the memory it shares with the accelerator: ``mem_raddr``/``mem_ren``/``mem_rdata``
  (synchronous read, one cycle) and ``mem_waddr``/``mem_wdata``/``mem_wen``;
  ``running`` is high while the accelerator owns the memory (from RUN to done);
* the accelerator's ``start``/``prog_addr``/``prog_len``/``done`` and its
  ``counters`` (``hdl.top.COUNTERS``, 32 bits each, concatenated);
* ``error`` pulses for one cycle with every ERROR reply (for a LED).
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import crc, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from boards.protocol import COUNTERS, CRC, MAX_PAYLOAD, SYNC, Error, Type, encode_info
from golden.contract.params import check_int, check_pow2

__all__ = ["HostLink"]


class HostLink(wiring.Component):
    def __init__(self, config, mem_words, timeout, max_payload=MAX_PAYLOAD):
        check_pow2("mem_words", mem_words, 2)
        check_int("timeout", timeout, 16)
        check_pow2("max_payload", max_payload, 16)
        self.config, self.mem_words, self.timeout = config, mem_words, timeout
        self.max_payload = max_payload
        abits = (mem_words - 1).bit_length()
        mw = config.mem_width
        super().__init__({
            "rx": In(stream.Signature(8, always_ready=True)),
            "tx": Out(stream.Signature(8)),
            "mem_raddr": Out(abits), "mem_ren": Out(1), "mem_rdata": In(mw),
            "mem_waddr": Out(abits), "mem_wdata": Out(mw), "mem_wen": Out(1),
            "running": Out(1), "start": Out(1), "prog_addr": Out(32), "prog_len": Out(16),
            "done": In(1), "counters": In(32 * len(COUNTERS)), "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        mw = cfg.mem_width
        B = mw // 8
        lgB = B.bit_length() - 1
        info = encode_info(cfg, self.mem_words, self.max_payload)
        payload_bits = 8 * max(len(info), 4 * len(COUNTERS), 1)

        fbuf = Memory(shape=8, depth=self.max_payload, init=[])
        m.submodules.fbuf = fbuf
        fb_w = fbuf.write_port()
        fb_r = fbuf.read_port()
        m.submodules.rxcrc = rxcrc = crc.Processor(CRC)
        m.submodules.txcrc = txcrc = crc.Processor(CRC)

        byte = self.rx.payload
        got = self.rx.valid
        # The line has been quiet for `timeout` cycles: a register (`hushed`) kept
        # beside the counter, so the comparison stays off the states' registers.
        quiet = Signal(range(self.timeout + 1))
        hushed = Signal()
        with m.If(got):
            m.d.sync += [quiet.eq(0), hushed.eq(0)]
        with m.Elif(~hushed):
            m.d.sync += [quiet.eq(quiet + 1), hushed.eq(quiet == self.timeout - 1)]
        timed_out = ~got & hushed

        length = Signal(16)
        ftype = Signal(8)
        idx = Signal(16)
        hdr = Signal(48, reset_less=True)   # the first 6 payload bytes: addr, count / prog_len
        crc_lo = Signal(8)
        crc_hi = Signal(8)
        addr = hdr[:32]
        count = hdr[32:48]
        waddr = Signal(32)
        word = Signal(mw)

        # The reply the transmitter sends next.
        tx_go = Signal()
        tx_idle = Signal()
        r_type = Signal(8)
        r_len = Signal(16)
        r_ram = Signal()                 # payload from memory (DATA), else by `r_src`
        ram_q = Signal(mw)               # the memory word read, registered
        r_addr = Signal(32)
        # A reply's payload, when not from memory: the INFO bytes (a constant), an
        # error code, or the counters as the run left them; the transmitter picks
        # it by `r_src` (no wide register loaded from every state).
        r_src = Signal(range(3))
        SRC_INFO, SRC_CODE, SRC_COUNTERS = 0, 1, 2
        r_code = Signal(8)
        snap = Signal(len(self.counters), reset_less=True)

        def reply(m, rtype, src=SRC_CODE, nbytes=0, code=None):
            m.d.sync += [r_type.eq(rtype), r_len.eq(nbytes), r_ram.eq(0), r_src.eq(src)]
            if code is not None:
                m.d.sync += r_code.eq(code)

        def fail(m, code, then="DRAIN"):
            # A frame that may still be arriving (bad length, bad CRC: LEN itself may
            # be wrong) is drained first: the ERROR goes out once the line has been
            # quiet for `timeout`, so the host may resend as soon as it reads it.
            reply(m, Type.ERROR, SRC_CODE, 1, code)
            m.d.sync += self.error.eq(1)
            m.next = then

        m.d.sync += self.error.eq(0)
        m.d.comb += [rxcrc.data.eq(byte), fb_w.data.eq(byte), fb_w.addr.eq(idx),
                     fb_r.addr.eq(idx), self.prog_addr.eq(addr), self.prog_len.eq(count)]
        # The frame's checks, registers recomputed every cycle: LEN and the header
        # bytes are complete at least two UART bytes (the CRC) before EXEC reads
        # them, and the carry chains stay off the reply registers' enables.  The
        # ends of the ranges a READ and a WRITE name are registers too, compared
        # the cycle after (one carry chain a cycle).
        # (the frame's type decoded into flags, registers, for EXEC's choice)
        is_type = {t: Signal(name=f"is_{t.name.lower()}")
                   for t in (Type.PING, Type.WRITE, Type.READ, Type.RUN)}
        m.d.sync += [flag.eq(ftype == t) for t, flag in is_type.items()]
        copy_last = Signal()
        end = Signal(33)
        w_end = Signal(33)
        m.d.sync += [end.eq(addr + Cat(count, Const(0, 17))),
                     w_end.eq(addr + ((length - 4) >> lgB))]
        w_len_bad, w_addr_bad = Signal(), Signal()
        r_len_bad, r_addr_bad = Signal(), Signal()
        run_len_bad, run_addr_bad = Signal(), Signal()
        len_big, len_zero = Signal(), Signal()
        m.d.sync += [
            len_big.eq(length > self.max_payload),
            len_zero.eq(length == 0),
            w_len_bad.eq((length < 4 + B) | (((length - 4) & (B - 1)) != 0)),
            w_addr_bad.eq(w_end > self.mem_words),
            r_len_bad.eq((length != 6) | (count == 0) | (count > self.max_payload // B)),
            r_addr_bad.eq(end > self.mem_words),
            run_len_bad.eq((length != 6) | (count == 0) | (count > cfg.ib_depth)),
            run_addr_bad.eq(addr >= self.mem_words),
        ]

        with m.FSM(name="link"):
            with m.State("IDLE"):
                with m.If(got & (byte == SYNC)):
                    m.d.comb += rxcrc.start.eq(1)
                    m.d.sync += [idx.eq(0), hdr.eq(0)]
                    m.next = "LEN0"
            for state, target, nxt in (("LEN0", length[:8], "LEN1"), ("LEN1", length[8:], "TYPE"),
                                       ("TYPE", ftype, "CHECKLEN")):
                with m.State(state):
                    with m.If(got):
                        m.d.comb += rxcrc.valid.eq(1)
                        m.d.sync += target.eq(byte)
                        m.next = nxt
                    with m.Elif(timed_out):
                        fail(m, Error.TIMEOUT, "REPLY_IDLE")
            with m.State("CHECKLEN"):
                with m.If(len_big):
                    fail(m, Error.LENGTH)
                with m.Elif(len_zero):
                    m.next = "CRC0"
                with m.Else():
                    m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                with m.If(got):
                    m.d.comb += [rxcrc.valid.eq(1), fb_w.en.eq(1)]
                    with m.If(idx < 6):
                        m.d.sync += hdr.word_select(idx[:3], 8).eq(byte)
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx + 1 == length):
                        m.next = "CRC0"
                with m.Elif(timed_out):
                    fail(m, Error.TIMEOUT, "REPLY_IDLE")
            with m.State("CRC0"):
                with m.If(got):
                    m.d.sync += crc_lo.eq(byte)
                    m.next = "CRC1"
                with m.Elif(timed_out):
                    fail(m, Error.TIMEOUT, "REPLY_IDLE")
            with m.State("CRC1"):
                with m.If(got):
                    m.d.sync += crc_hi.eq(byte)
                    m.next = "CRC_CHECK"
                with m.Elif(timed_out):
                    fail(m, Error.TIMEOUT, "REPLY_IDLE")
            # (the CRC compared the cycle after its last byte, from registers: the
            # compare is not before the reply registers' enables; ECP5 timing)
            with m.State("CRC_CHECK"):
                with m.If(Cat(crc_lo, crc_hi) == rxcrc.crc):
                    m.next = "EXEC"
                with m.Else():
                    fail(m, Error.CRC)

            with m.State("EXEC"):
                with m.If(is_type[Type.PING]):
                    with m.If(length != 0):
                        fail(m, Error.LENGTH, "REPLY_IDLE")
                    with m.Else():
                        reply(m, Type.INFO, SRC_INFO, len(info))
                        m.next = "REPLY_IDLE"
                with m.Elif(is_type[Type.WRITE]):
                    with m.If(w_len_bad):
                        fail(m, Error.LENGTH, "REPLY_IDLE")
                    with m.Elif(w_addr_bad):
                        fail(m, Error.ADDRESS, "REPLY_IDLE")
                    with m.Else():
                        m.d.sync += [idx.eq(4), waddr.eq(addr)]
                        m.next = "COPY_ADDR"
                with m.Elif(is_type[Type.READ]):
                    with m.If(r_len_bad):
                        fail(m, Error.LENGTH, "REPLY_IDLE")
                    with m.Elif(r_addr_bad):
                        fail(m, Error.ADDRESS, "REPLY_IDLE")
                    with m.Else():
                        m.d.sync += [r_type.eq(Type.DATA), r_len.eq(count << lgB),
                                     r_ram.eq(1), r_addr.eq(addr)]
                        m.next = "REPLY_IDLE"
                with m.Elif(is_type[Type.RUN]):
                    with m.If(run_len_bad):
                        fail(m, Error.LENGTH, "REPLY_IDLE")
                    with m.Elif(run_addr_bad):
                        fail(m, Error.ADDRESS, "REPLY_IDLE")
                    with m.Else():
                        m.next = "RUN_START"
                with m.Else():
                    fail(m, Error.TYPE, "REPLY_IDLE")

            # WRITE: payload bytes 4.. from the frame buffer into words, then memory.
            # (the last byte found in COPY_ADDR, a register: ``idx`` is the same in
            # the COPY_DATA after it; no adder and compare before the reply's
            # registers)
            with m.State("COPY_ADDR"):
                m.d.comb += fb_r.en.eq(1)
                m.d.sync += copy_last.eq(idx + 1 == length)
                m.next = "COPY_DATA"
            with m.State("COPY_DATA"):
                m.d.comb += [self.mem_waddr.eq(waddr), self.mem_wdata.eq(Cat(word[8:], fb_r.data))]
                m.d.sync += [word.eq(Cat(word[8:], fb_r.data)), idx.eq(idx + 1)]
                with m.If(((idx - 4) & (B - 1)) == B - 1):
                    m.d.comb += self.mem_wen.eq(1)
                    m.d.sync += waddr.eq(waddr + 1)
                with m.If(copy_last):
                    reply(m, Type.ACK)
                    m.next = "REPLY_IDLE"
                with m.Else():
                    m.next = "COPY_ADDR"

            with m.State("RUN_START"):
                m.d.comb += [self.start.eq(1), self.running.eq(1)]
                m.next = "RUN_WAIT"
            with m.State("RUN_WAIT"):
                m.d.comb += self.running.eq(1)
                with m.If(self.done):
                    m.d.sync += snap.eq(self.counters)
                    reply(m, Type.DONE, SRC_COUNTERS, 4 * len(COUNTERS))
                    m.next = "REPLY_IDLE"

            # Replies: hand the reply to the transmitter and wait until it is sent.
            with m.State("REPLY_IDLE"):
                m.d.comb += tx_go.eq(1)
                m.next = "REPLY_WAIT"
            with m.State("REPLY_WAIT"):
                with m.If(tx_idle & ~tx_go):
                    m.next = "IDLE"
            with m.State("DRAIN"):            # discard bytes until the line is quiet
                with m.If(timed_out):
                    m.next = "REPLY_IDLE"

        # The transmitter: SYNC, LEN, TYPE, payload, CRC.
        left = Signal(16)
        nbyte = Signal(range(B))
        # The payload is sent from ``out`` byte by byte at ``idx`` (restarting
        # with each memory word), not shifted: ``out`` loads only as a reply or
        # a word starts, so the transmitter's handshake enables a counter, not
        # every bit of it (ECP5 timing at Tn = Tm = 4: 10.1 ns into ``out``).
        out = Signal(max(payload_bits, mw), reset_less=True)
        idx = Signal(range(len(out) // 8))
        tbyte = Signal(8)
        m.d.comb += [self.tx.payload.eq(tbyte), txcrc.data.eq(tbyte)]
        sent = self.tx.valid & self.tx.ready
        with m.FSM(name="tx"):
            with m.State("IDLE"):
                m.d.comb += tx_idle.eq(1)
                with m.If(tx_go):
                    m.d.sync += [left.eq(r_len), nbyte.eq(0), idx.eq(0)]
                    with m.Switch(r_src):
                        with m.Case(SRC_INFO):
                            m.d.sync += out.eq(int.from_bytes(info, "little"))
                        with m.Case(SRC_CODE):
                            m.d.sync += out.eq(r_code)
                        with m.Default():
                            m.d.sync += out.eq(snap)
                    m.next = "SYNC"
            with m.State("SYNC"):
                m.d.comb += [tbyte.eq(SYNC), self.tx.valid.eq(1), txcrc.start.eq(1)]
                with m.If(sent):
                    m.next = "LEN0"
            for state, value, nxt in (("LEN0", r_len[:8], "LEN1"), ("LEN1", r_len[8:], "TYPE")):
                with m.State(state):
                    m.d.comb += [tbyte.eq(value), self.tx.valid.eq(1), txcrc.valid.eq(sent)]
                    with m.If(sent):
                        m.next = nxt
            with m.State("TYPE"):
                m.d.comb += [tbyte.eq(r_type), self.tx.valid.eq(1), txcrc.valid.eq(sent)]
                with m.If(sent):
                    with m.If(left == 0):
                        m.next = "CRC0"
                    with m.Elif(r_ram):
                        m.next = "FETCH"
                    with m.Else():
                        m.next = "PAYLOAD"
            # (the word read is registered before it enters ``out``, whose other
            # sources make it a multiplexer: ECP5 timing, no block RAM output
            # before it)
            with m.State("FETCH"):
                m.d.comb += [self.mem_raddr.eq(r_addr), self.mem_ren.eq(1)]
                m.next = "HOLD"
            with m.State("HOLD"):
                m.d.sync += ram_q.eq(self.mem_rdata)
                m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += [out.eq(ram_q), r_addr.eq(r_addr + 1), idx.eq(0)]
                m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                m.d.comb += [tbyte.eq(out.word_select(idx, 8)), self.tx.valid.eq(1),
                             txcrc.valid.eq(sent)]
                with m.If(sent):
                    m.d.sync += [idx.eq(idx + 1), left.eq(left - 1), nbyte.eq(nbyte + 1)]
                    with m.If(left == 1):
                        m.next = "CRC0"
                    with m.Elif(r_ram & (nbyte == B - 1)):
                        m.next = "FETCH"
            with m.State("CRC0"):
                m.d.comb += [tbyte.eq(txcrc.crc[:8]), self.tx.valid.eq(1)]
                with m.If(sent):
                    m.next = "CRC1"
            with m.State("CRC1"):
                m.d.comb += [tbyte.eq(txcrc.crc[8:]), self.tx.valid.eq(1)]
                with m.If(sent):
                    m.next = "IDLE"
        return m
