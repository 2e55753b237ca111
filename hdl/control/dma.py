"""The load and store units: the accelerator's only paths to memory.

The memory port is three streams (see :class:`hdl.top.Accelerator`): read
requests (a word address each), read data (in request order), write requests
(address and data).  Both units keep several requests in flight:

* :class:`LoadUnit` (``LOAD``) issues read requests ahead of the data, with a
  descriptor FIFO saying where each returning word goes, and assembles buffer
  rows (NIBin, SIB, NBin, per-PE SB, bias) or LUT entries.  An NBin row takes
  ``ceil(popcount(NIBin row) * 16 / mem_width)`` words (the window's nonzeros),
  or a full row in dense mode.
* :class:`StoreUnit` (``STORE``) reads NBout rows, assembles windows of
  ``16 * tm`` outputs, compresses each with the Encoder (or, dense, passes it
  whole) and writes the window's bitmap and its packed nonzeros.
"""

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib.fifo import SyncFIFOBuffered

from golden.twins.wdm import LUT_SIZE

from hdl.datapath.encoder import Encoder
from hdl.control.isa import WORD_BITS, Op, Target, view
from golden.contract.params import clog2

__all__ = ["LoadUnit", "StoreUnit", "popcount", "add_read_channel", "READ_CHANNEL"]

#: The memory read channel a master (the controller's fetch, the load unit) drives:
#: signal name -> (width or "mem", direction seen from the master).
READ_CHANNEL = {"rreq_valid": (1, "out"), "rreq_ready": (1, "in"), "rreq_addr": (32, "out"),
                "rdata_valid": (1, "in"), "rdata_ready": (1, "out"), "rdata": ("mem", "in")}


def add_read_channel(obj, mem_width):
    """Give ``obj`` the plain signals of a memory read channel (:data:`READ_CHANNEL`)."""
    for name, (width, _) in READ_CHANNEL.items():
        setattr(obj, name, Signal(mem_width if width == "mem" else width, name=name))


def popcount(m, value, name):
    """A signal holding the number of set bits of ``value`` (a balanced adder tree)."""
    bits = [value[i] for i in range(len(value))]
    while len(bits) > 1:
        bits = [bits[i] + bits[i + 1] for i in range(0, len(bits) - 1, 2)] + \
            ([bits[-1]] if len(bits) % 2 else [])
    out = Signal(clog2(len(value) + 1), name=name)
    m.d.comb += out.eq(bits[0])
    return out


class LoadUnit(Elaboratable):
    """``LOAD``: memory → NIBin / SIB / NBin / SB / bias / LUT.

    ``ports`` maps a buffer name to its Amaranth memory ports created by the top:
    ``nib_w``, ``nib_r`` (an asynchronous read port: NBin row lengths), ``sib_w``,
    ``nbin_w``, ``bias_w``;
    the SB and LUT writes leave through ``sb_*`` and ``lut_*`` signals.
    """

    DEPTH = 16  # read requests in flight

    def __init__(self, cfg, ports):
        self._cfg = cfg
        self._p = ports
        mw = cfg.mem_width
        self.start = Signal()
        self.instr = Signal(WORD_BITS)
        self.busy = Signal()
        add_read_channel(self, mw)
        self.sb_valid = Signal()
        self.sb_pe = Signal(max(1, clog2(cfg.tn)))
        self.sb_addr = Signal(16)
        self.sb_data = Signal(64 * cfg.tm)
        self.lut_valid = Signal()
        self.lut_pe = Signal(max(1, clog2(cfg.tn)))
        self.lut_addr = Signal(clog2(LUT_SIZE))
        self.lut_value = Signal(16)
        self.words_read = Signal(32)

    def elaborate(self, platform):
        m = Module()
        cfg, p = self._cfg, self._p
        mw = cfg.mem_width
        words = cfg.words
        lanes = words["values_per_word"]
        ins = Signal(WORD_BITS)
        ld = view(Op.LOAD, ins)
        with m.If(self.start):
            m.d.sync += ins.eq(self.instr)

        # --- the request generator -------------------------------------------------
        # Iterates rows (LUT: words), PEs (SB) and words; one read request per word,
        # with a descriptor (row, word, PE, last word of the chunk) to the FIFO.
        row = Signal(16)
        word = Signal(16)
        pe = Signal(max(1, clog2(cfg.tn)))
        gen_done = Signal()
        m.submodules.desc = desc = SyncFIFOBuffered(width=16 + 16 + max(1, clog2(cfg.tn)) + 1,
                                                    depth=self.DEPTH)
        target = ld.target
        is_sb = target == Target.SB
        is_lut = target == Target.LUT

        # An NBin row's length is the popcount of the NIBin row of the same half and
        # index (an asynchronous read port).
        m.d.comb += p["nib_r"].addr.eq(Mux(ld.half, cfg.half(cfg.window_rows), 0) + ld.row + row)
        nib_pop = popcount(m, p["nib_r"].data, "nib_pop")

        chunk = Signal(16)
        with m.Switch(target):
            with m.Case(Target.NIB, Target.SIB):
                m.d.comb += chunk.eq(words["bitmap"])
            with m.Case(Target.SB):
                m.d.comb += chunk.eq(words["sb"])
            with m.Case(Target.BIAS):
                m.d.comb += chunk.eq(words["bias"])
            with m.Case(Target.LUT):
                m.d.comb += chunk.eq(1)
            with m.Case(Target.NBIN):
                m.d.comb += chunk.eq(Mux(ld.dense, words["nbin"],
                                         (nib_pop + lanes - 1) >> clog2(lanes)))
        addr = Signal(32)
        with m.Switch(target):
            with m.Case(Target.NBIN):
                m.d.comb += addr.eq(ld.mem_addr + row * words["nbin"] + word)
            with m.Case(Target.SB):
                m.d.comb += addr.eq(ld.mem_addr + (row * cfg.tn + pe) * words["sb"] + word)
            with m.Default():
                m.d.comb += addr.eq(ld.mem_addr + row * chunk + word)

        n_rows = Signal(16)
        m.d.comb += n_rows.eq(Mux(is_lut, (ld.count + lanes - 1) >> clog2(lanes), ld.count))
        last_pe = Mux(is_sb, pe == cfg.tn - 1, 1)
        req_fire = self.rreq_valid & self.rreq_ready
        m.d.comb += [
            self.rreq_valid.eq(self.busy & ~gen_done & (chunk != 0) & desc.w_rdy),
            self.rreq_addr.eq(addr),
            desc.w_en.eq(req_fire),
            desc.w_data.eq(Cat(row, word, pe, (word == chunk - 1))),
        ]
        next_row = self.busy & ~gen_done & ((chunk == 0) | (req_fire & (word == chunk - 1) & last_pe))
        with m.If(req_fire):
            with m.If(word == chunk - 1):
                m.d.sync += word.eq(0)
                with m.If(~last_pe):
                    m.d.sync += pe.eq(pe + 1)
            with m.Else():
                m.d.sync += word.eq(word + 1)
        with m.If(next_row):
            m.d.sync += [row.eq(row + 1), pe.eq(0), word.eq(0)]
            with m.If(row + 1 >= n_rows):
                m.d.sync += gen_done.eq(1)

        # --- the response side: assemble rows -------------------------------------------
        rsp = desc.r_data
        rsp_row, rsp_word = rsp[:16], rsp[16:32]
        rsp_pe = rsp[32:32 + max(1, clog2(cfg.tn))]
        rsp_last = rsp[-1]
        row_bits = max(16 * cfg.window, 64 * cfg.tm, 32 * cfg.tn, cfg.window)
        assembly = Signal(row_bits)
        lut_index = Signal(clog2(lanes + 1))
        lut_word = Signal(mw)
        lut_busy = Signal()
        with_word = Signal(row_bits)
        m.d.comb += with_word.eq(assembly)
        for k in range(row_bits // mw):
            with m.If(rsp_word == k):
                m.d.comb += with_word[k * mw:(k + 1) * mw].eq(self.rdata)
        take = self.rdata_valid & self.rdata_ready
        m.d.comb += [self.rdata_ready.eq(desc.r_rdy & ~lut_busy), desc.r_en.eq(take)]
        with m.If(take):
            m.d.sync += self.words_read.eq(self.words_read + 1)
            m.d.sync += assembly.eq(Mux(rsp_last, 0, with_word))
            with m.If(is_lut):
                m.d.sync += [lut_busy.eq(1), lut_word.eq(self.rdata), lut_index.eq(0)]

        def buf_row(rows, r):
            return Mux(ld.half, rows // 2, 0) + ld.row + r

        row_data = with_word
        write_row = take & rsp_last & ~is_lut
        for name, tgt, rows in (("nib_w", Target.NIB, cfg.window_rows),
                                ("sib_w", Target.SIB, cfg.sib_rows),
                                ("nbin_w", Target.NBIN, cfg.window_rows),
                                ("bias_w", Target.BIAS, cfg.bias_rows)):
            port = p[name]
            m.d.comb += [port.addr.eq(buf_row(rows, rsp_row)),
                         port.data.eq(row_data[:len(port.data)]),
                         port.en.eq(write_row & (target == tgt))]
        m.d.comb += [
            self.sb_valid.eq(write_row & is_sb),
            self.sb_pe.eq(rsp_pe),
            self.sb_addr.eq(buf_row(cfg.sb_words, rsp_row)),
            self.sb_data.eq(row_data[:64 * cfg.tm]),
        ]
        # LUT words are written one entry per cycle.
        entry = rsp_row  # for LUT loads `row` counts words
        lut_entry = Signal(16)
        m.d.comb += [
            self.lut_valid.eq(lut_busy & (lut_entry < ld.count)),
            self.lut_pe.eq(ld.pe),
            self.lut_addr.eq(lut_entry),
            self.lut_value.eq(lut_word.word_select(lut_index, 16)),
        ]
        with m.If(take & is_lut):
            m.d.sync += lut_entry.eq(entry * lanes)
        with m.If(lut_busy):
            m.d.sync += [lut_index.eq(lut_index + 1), lut_entry.eq(lut_entry + 1)]
            with m.If(lut_index == lanes - 1):
                m.d.sync += lut_busy.eq(0)

        # --- start and finish ------------------------------------------------------------
        with m.If(self.start):
            iv = view(Op.LOAD, self.instr)
            m.d.sync += [self.busy.eq(1), row.eq(0), word.eq(0), pe.eq(0),
                         gen_done.eq(iv.count == 0)]
        with m.Elif(self.busy & gen_done & (desc.level == 0) & ~lut_busy):
            m.d.sync += self.busy.eq(0)
        return m


class StoreUnit(Elaboratable):
    """``STORE``: NBout half → Encoder → memory (bitmaps and packed nonzeros)."""

    def __init__(self, cfg, nbout_r):
        self._cfg = cfg
        self._nbout_r = nbout_r
        mw = cfg.mem_width
        self.start = Signal()
        self.instr = Signal(WORD_BITS)
        self.busy = Signal()
        self.wreq_valid = Signal()
        self.wreq_ready = Signal()
        self.wreq_addr = Signal(32)
        self.wreq_data = Signal(mw)
        self.words_written = Signal(32)

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        mw, W, tn = cfg.mem_width, cfg.window, cfg.tn
        G = cfg.groups_per_window
        lanes = cfg.words["values_per_word"]
        ins = Signal(WORD_BITS)
        st = view(Op.STORE, ins)
        with m.If(self.start):
            m.d.sync += ins.eq(self.instr)

        m.submodules.encoder = enc = Encoder(tn=tn, window=W)

        # --- reader: NBout rows into windows -----------------------------------------
        rd = self._nbout_r
        win_rd = Signal(16)       # window being read
        grp = Signal(range(G + 1))  # row within the window being read
        rd_pending = Signal()     # a read issued last cycle
        rd_grp = Signal(range(G + 1))
        window = Signal(16 * W)
        win_full = Signal()       # `window` holds a complete window not yet handed on
        reading = Signal()
        half_base = Mux(st.half, cfg.half(cfg.nbout_rows), 0)
        row_index = win_rd * G + grp
        m.d.comb += [rd.addr.eq(half_base + row_index[:16]), rd.en.eq(1)]
        can_read = reading & ~win_full & ~rd_pending & (grp < G)
        with m.If(can_read):
            m.d.sync += [rd_pending.eq(1), rd_grp.eq(grp), grp.eq(grp + 1)]
        with m.If(rd_pending):
            m.d.sync += rd_pending.eq(0)
            in_range = (win_rd * G + rd_grp) < st.rows
            for k in range(G):
                with m.If(rd_grp == k):
                    m.d.sync += window[k * 16 * tn:(k + 1) * 16 * tn].eq(
                        Mux(in_range, rd.data, 0))
            with m.If(rd_grp == G - 1):
                m.d.sync += win_full.eq(1)

        # --- the window goes to the Encoder (or, dense, straight to the packer) ------
        handed = Signal()
        dense_words_left = Signal(16)
        m.d.comb += [enc.i.payload.value.as_value().eq(window),
                     enc.i.payload.last.eq(win_rd == st.windows - 1),
                     enc.i.valid.eq(win_full & ~st.dense)]
        with m.If(win_full & ~st.dense & enc.i.ready):
            m.d.comb += handed.eq(1)

        # --- the packer and writer ---------------------------------------------------------
        # Sparse: per Encoder beat, first the bitmap words (on a window's first
        # beat), then its nonzeros one per cycle into words of `lanes` values.
        w_win = Signal(16)         # window being written
        bm_left = Signal(16)       # bitmap words still to write for this beat
        lane = Signal(range(tn + 1))  # next lane of the current beat
        word_buf = Signal(mw)
        fill = Signal(range(lanes + 1))
        val_addr = Signal(32)
        emitted = Signal(16)       # nonzeros of this window written into words
        pop = Signal(16)
        beat_bm = Signal(W)
        beat = enc.o.payload
        n_valid = popcount(m, beat.valid, "beat_count")
        win_pop = popcount(m, beat.bitmap, "win_pop")

        with m.FSM(name="writer"):
            with m.State("IDLE"):
                with m.If(self.busy & reading & st.dense & win_full):
                    m.d.sync += [dense_words_left.eq(W // lanes), fill.eq(0)]
                    m.next = "DENSE"
                with m.Elif(self.busy & ~st.dense & enc.o.valid):
                    with m.If(beat.first):
                        m.d.sync += [bm_left.eq(cfg.words["bitmap"]), beat_bm.eq(beat.bitmap),
                                     pop.eq(win_pop), emitted.eq(0), fill.eq(0),
                                     val_addr.eq(st.mem_addr + w_win * cfg.words["nbin"])]
                        m.next = "BITMAP"
                    with m.Else():
                        m.next = "VALUES"
                    m.d.sync += lane.eq(0)
            with m.State("BITMAP"):
                idx = cfg.words["bitmap"] - bm_left
                m.d.comb += [self.wreq_valid.eq(1),
                             self.wreq_addr.eq(st.bm_addr + w_win * cfg.words["bitmap"] + idx),
                             self.wreq_data.eq(beat_bm.word_select(idx[:max(1, clog2(
                                 cfg.words["bitmap"]))] if cfg.words["bitmap"] > 1 else 0, mw))]
                with m.If(self.wreq_ready):
                    m.d.sync += bm_left.eq(bm_left - 1)
                    with m.If(bm_left == 1):
                        m.next = "VALUES"
            with m.State("VALUES"):
                # one value per cycle; a full word (or the window's end) is written
                word_full = fill == lanes
                at_end = (emitted == pop) & (fill != 0)
                with m.If(word_full | at_end):
                    m.d.comb += [self.wreq_valid.eq(1), self.wreq_addr.eq(val_addr),
                                 self.wreq_data.eq(word_buf)]
                    with m.If(self.wreq_ready):
                        m.d.sync += [val_addr.eq(val_addr + 1), fill.eq(0), word_buf.eq(0)]
                with m.Elif(lane < n_valid):
                    for k in range(lanes):
                        with m.If(fill == k):
                            m.d.sync += word_buf[16 * k:16 * (k + 1)].eq(
                                beat.value.as_value().word_select(lane[:max(1, clog2(tn))]
                                                                  if tn > 1 else 0, 16))
                    m.d.sync += [fill.eq(fill + 1), lane.eq(lane + 1), emitted.eq(emitted + 1)]
                with m.Else():
                    # the beat is used up: take it; a finished window moves on
                    m.d.comb += enc.o.ready.eq(1)
                    with m.If(emitted == pop):
                        m.d.sync += [w_win.eq(w_win + 1), fill.eq(0), word_buf.eq(0)]
                    m.next = "IDLE"
            with m.State("DENSE"):
                k = W // lanes - dense_words_left
                m.d.comb += [self.wreq_valid.eq(1),
                             self.wreq_addr.eq(st.mem_addr + w_win * cfg.words["nbin"] + k),
                             self.wreq_data.eq(window.word_select(k[:max(1, clog2(W // lanes))],
                                                                  mw))]
                with m.If(self.wreq_ready):
                    m.d.sync += dense_words_left.eq(dense_words_left - 1)
                    with m.If(dense_words_left == 1):
                        m.d.comb += handed.eq(1)
                        m.d.sync += w_win.eq(w_win + 1)
                        m.next = "IDLE"

        with m.If(self.wreq_valid & self.wreq_ready):
            m.d.sync += self.words_written.eq(self.words_written + 1)
        with m.If(handed):
            m.d.sync += [win_full.eq(0), grp.eq(0), win_rd.eq(win_rd + 1)]
            with m.If(win_rd + 1 == st.windows):
                m.d.sync += reading.eq(0)

        with m.If(self.start):
            sv = view(Op.STORE, self.instr)
            m.d.sync += [self.busy.eq(1), win_rd.eq(0), grp.eq(0), win_full.eq(0),
                         reading.eq(sv.windows != 0), w_win.eq(0), rd_pending.eq(0)]
        with m.Elif(self.busy & (w_win == st.windows) & ~reading):
            m.d.sync += self.busy.eq(0)
        return m
