"""The load and store units: the accelerator's only paths to memory.

The memory port is three streams (see :class:`hdl.top.Accelerator`): read
requests (a word address each), read data (in request order), write requests
(address and data).  Both units keep several requests in flight:

* :class:`LoadUnit` (``LOAD``) issues read requests ahead of the data, with a
  descriptor FIFO saying where each returning word goes, and assembles buffer
  rows (NIBin, SIB, NBin, per-PE SB, bias) or LUT entries.  An NBin row takes
  ``ceil(popcount(NIBin row) * 16 / mem_width)`` words (the window's nonzeros),
  or a full row in dense mode.  A LOAD of several ``segments`` (a 2-D gather)
  jumps to the next segment's start, ``seg_step`` words on, after each
  ``count`` rows, in the same cycle as its last request (no bubble).
* :class:`StoreUnit` (``STORE``) reads NBout rows, assembles windows of
  ``16 * tm`` outputs, compresses each with the Encoder (or, dense, passes it
  whole) and writes the window's bitmap and its packed nonzeros.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from golden.contract.params import check_int, clog2
from hdl.control import bus
from hdl.control.isa import WORD_BITS, Op, Target, view
from hdl.datapath.encoder import Encoder
from hdl.datapath.slice import write_layouts

__all__ = ["LoadUnit", "StoreUnit", "descriptor_layout", "descriptor_row_bits", "popcount",
           "port_signature"]


def descriptor_layout(tn, row_bits=None):
    """The load unit's descriptor of a read in flight: where its word goes (the
    buffer row, the word in it, the PE for SB rows, whether it is its row's
    last word).  (The responses no longer read ``word``, the words of a row
    arriving in order; it stays until the area model, calibrated with it, is
    fitted again: ``make estimate-fit``.)  With ``row_bits`` (compact
    configurations: :func:`descriptor_row_bits`) a row that wide and no ``word``."""
    pe = max(1, clog2(tn))
    if row_bits is not None:
        return data.StructLayout({"row": row_bits, "pe": pe, "last": 1})
    return data.StructLayout({"row": 16, "word": 16, "pe": pe, "last": 1})


def descriptor_row_bits(cfg):
    """Bits of a descriptor's row: a LOAD's rows from its first are fewer than any
    buffer's rows, a LUT LOAD's words than a table's entries (small parts:
    iCE40 block RAMs are 16 bits wide, and the descriptor FIFO 34 bits took 3)."""
    from golden.twins.wdm import LUT_SIZE
    return clog2(max(cfg.window_rows, cfg.sib_rows, cfg.bias_rows, cfg.sb_words, LUT_SIZE))


def port_signature(port_kind, rows, shape):
    """The signature of a buffer port as its user sees it: ``port_kind`` is
    ``ReadPort`` or ``WritePort`` of a memory of ``rows`` rows of ``shape``."""
    return port_kind.Signature(addr_width=clog2(rows), shape=shape).flip()


def _nibble_count(bits):
    """The 3-bit count of up to four bits, as logic (a LUT4 per output bit), not
    adders: ``b0 + b1 = p + 2q``, ``b2 + b3 = r + 2s``."""
    b = list(bits) + [Const(0, 1)] * (4 - len(bits))
    p, q, r, s = b[0] ^ b[1], b[0] & b[1], b[2] ^ b[3], b[2] & b[3]
    return Cat(p ^ r, q ^ s ^ (p & r), q & s)


def popcount(m, value, name):
    """A signal holding the number of set bits of ``value``: each nibble counted in
    logic (one LUT level), then a balanced adder tree of the counts (ECP5 timing:
    two carry-chain levels fewer than adding bit to bit)."""
    n = len(value)
    counts = [_nibble_count([value[i] for i in range(a, min(a + 4, n))])
              for a in range(0, n, 4)]
    while len(counts) > 1:
        counts = [counts[i] + counts[i + 1] for i in range(0, len(counts) - 1, 2)] + \
            ([counts[-1]] if len(counts) % 2 else [])
    out = Signal(clog2(n + 1), name=name)
    m.d.comb += out.eq(counts[0])
    return out


class LoadUnit(wiring.Component):
    """``LOAD``: memory → NIBin / SIB / NBin / SB / bias / LUT.

    Members
    -------
    issue : ``In(bus.issue())``
        Its instructions (taken while not ``busy``).
    mem : ``Out(bus.mem_read(mem_width))``
        Reads, up to ``depth`` (default :attr:`DEPTH`) in flight.
    nib_w, sib_w, nbin_w, bias_w : buffer write ports
    nib_rows : ``Out(bus.comb_read(...))``
        An asynchronous read of NIBin: an NBin row's length is its popcount.
        Compact configurations: a synchronous read port (``en``, ``addr``,
        ``data`` the cycle after, held while ``en`` is low, not transparent),
        the same cycles: its data register is the lookup's first stage, so
        NIBin maps to block RAM (iCE40: 512 flip-flops fewer at Tn = Tm = 2).
    sb_write, lut_write : ``Out(stream.Signature(...))``
        SB words and LUT entries to the slice's PEs (:func:`hdl.datapath.slice.write_layouts`).
    """

    DEPTH = 16  # read requests in flight
    LEN_DEPTH = 8  # sparse NBin row lengths looked up ahead of the requests

    def __init__(self, cfg, *, depth=DEPTH):
        self._cfg = cfg
        self._depth = check_int("depth", depth, 1, 256)
        W = cfg.window
        sb_layout, lut_layout = write_layouts(tn=cfg.tn, tm=cfg.tm, sb_depth=cfg.sb_words,
                                              lut_lanes=cfg.words["values_per_word"])
        super().__init__({
            "issue": In(bus.issue()),
            "mem": Out(bus.mem_read(cfg.mem_width)),
            "nib_w": Out(port_signature(WritePort, cfg.window_rows, unsigned(W))),
            "sib_w": Out(port_signature(WritePort, cfg.sib_rows, unsigned(W))),
            "nbin_w": Out(port_signature(WritePort, cfg.window_rows, unsigned(16 * W))),
            "bias_w": Out(port_signature(WritePort, cfg.bias_rows, unsigned(32 * cfg.tn))),
            "nib_rows": (Out(port_signature(ReadPort, cfg.window_rows, unsigned(W)))
                         if cfg.compact else
                         Out(bus.comb_read(clog2(cfg.window_rows), unsigned(W)))),
            "sb_write": Out(stream.Signature(sb_layout)),
            "lut_write": Out(stream.Signature(lut_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        busy = Signal()
        start = self.issue.instr.valid & self.issue.instr.ready
        m.d.comb += [self.issue.instr.ready.eq(~busy), self.issue.busy.eq(busy)]
        ins = Signal(WORD_BITS, reset_less=True)
        ld = view(Op.LOAD, ins)
        # While idle the unit's registers follow the instruction on offer (nothing
        # reads them then): the issue handshake enables one flip-flop, ``busy``,
        # not hundreds (ECP5 timing: the dispatch's hazard check reached them all).
        with m.If(~busy):
            m.d.sync += ins.eq(self.issue.instr.payload)
        # Per request in flight, where its word goes: a FIFO of typed descriptors.
        desc_layout = descriptor_layout(self._cfg.tn, descriptor_row_bits(self._cfg)
                                        if self._cfg.compact else None)
        m.submodules.desc = desc = SyncFIFOBuffered(width=desc_layout.size, depth=self._depth)
        gen_done = self._requests(m, ld, busy, start, desc, data.View(desc_layout, desc.w_data))
        # (the last row is written as ``busy`` falls: from registers, two cycles
        # after it arrived; a LUT word a cycle after, from the response register)
        got = self._responses(m, ld, desc, data.View(desc_layout, desc.r_data))
        with m.If(start):
            m.d.sync += busy.eq(1)
        with m.Elif(busy & gen_done & (desc.level == 0) & ~got):
            m.d.sync += busy.eq(0)
        return m

    def _requests(self, m, ld, busy, start, desc, desc_in):
        """The request generator: iterates rows (LUT: words), PEs (SB) and words; one
        read request per word, its descriptor (row, word, PE, last word of the row)
        into the FIFO.  Returns ``gen_done``: every request of the LOAD made."""
        cfg = self._cfg
        words = cfg.words
        lanes = words["values_per_word"]
        row = Signal(16)
        word = Signal(16)
        pe = Signal(max(1, clog2(cfg.tn)))
        gen_done = Signal()
        target = ld.target

        # Row lengths.  A sparse NBin row's is the popcount of the NIBin row of the
        # same half and index: a lookup pipeline (NIBin's asynchronous read into a
        # register, per-16-bit popcounts into registers, their sum) runs ahead of
        # the generator into a FIFO, so the NIBin read and the popcount never reach
        # the memory's request path.  Every other target's length is fixed.
        iv = view(Op.LOAD, self.issue.instr.payload)
        W = cfg.window
        sparse = Signal()                  # this LOAD's rows are sparse NBin rows
        m.submodules.lens = lens = SyncFIFOBuffered(width=16, depth=self.LEN_DEPTH)
        look_addr = Signal(clog2(cfg.window_rows))
        look_left = Signal(16)
        s1_valid, s2_valid = Signal(), Signal()
        s1_bits = self.nib_rows.data if cfg.compact else Signal(W)   # (compact: the port's)
        parts = [(k, min(k + 16, W)) for k in range(0, W, 16)]
        s2_part = [Signal(clog2(b - a + 1), name=f"nib_pop{i}") for i, (a, b) in enumerate(parts)]
        in_flight = Signal(range(self.LEN_DEPTH + 3))
        m.d.comb += [in_flight.eq(s1_valid + s2_valid + lens.level),
                     self.nib_rows.addr.eq(look_addr)]
        look_seg_left = Signal(8)          # segments after the one being looked up
        look_go = busy & (look_left != 0) & (in_flight < self.LEN_DEPTH)
        m.d.sync += [s1_valid.eq(look_go), s2_valid.eq(s1_valid)]
        if cfg.compact:
            m.d.comb += self.nib_rows.en.eq(look_go)
        with m.If(look_go):
            m.d.sync += [*([] if cfg.compact else [s1_bits.eq(self.nib_rows.data)]),
                         look_addr.eq(look_addr + 1), look_left.eq(look_left - 1)]
            with m.If((look_left == 1) & (look_seg_left != 0)):    # the next segment's rows
                m.d.sync += [look_left.eq(ld.count), look_seg_left.eq(look_seg_left - 1)]
        for (a, b), reg in zip(parts, s2_part):
            m.d.sync += reg.eq(popcount(m, s1_bits[a:b], f"{reg.name}_c"))
        total = sum(s2_part[1:], s2_part[0])
        m.d.comb += [lens.w_en.eq(s2_valid),
                     lens.w_data.eq((total + lanes - 1) >> clog2(lanes))]

        def fixed_chunk(v, less=0):
            """The row length of a target with fixed rows, less ``less`` (constants)."""
            c = Signal(16, name=f"fixed_chunk_m{less}")
            with m.Switch(v.target):
                for targets, n in (((Target.NIB, Target.SIB), words["bitmap"]),
                                   ((Target.SB,), words["sb"]), ((Target.BIAS,), words["bias"]),
                                   ((Target.LUT,), 1), ((Target.NBIN,), words["nbin"])):
                    with m.Case(*targets):
                        m.d.comb += c.eq((n - less) % (1 << 16))
            return c

        # The row in hand (valid when ``have``): whether it is empty, its length
        # less one (``chunk_m1``), and the words left after the one being requested.
        have = Signal()
        empty = Signal()
        left = Signal(16)
        word_last = Signal()               # left == 0 (registers: the request
        chunk_m1 = Signal(16)              # handshake does no compare or subtraction)
        # The next request's address, a register (no multiplier on the memory's
        # address path): words are read in address order — NBin rows at a fixed
        # stride of which only the first ``chunk`` words, everything else
        # contiguous (SB rows PE by PE, bitmap and bias rows, LUT words).
        addr = Signal(32)
        row_base = Signal(32)
        is_nbin = target == Target.NBIN
        # Segments (a 2-D gather): after a segment's ``count`` rows the addresses jump
        # to the next segment's start, ``seg_step`` words after this one's.
        # (``seg_end``: the row in hand is its segment's last, a register beside
        # the count of what the segment has left from the row in hand on,
        # ``seg_rows_left``: rows, or for LUT loads entries, a word's ``lanes`` a
        # row: no compare on the path from the memory's ready into the address
        # registers, and no adder on the issue path into the count)
        seg_end = Signal()
        seg_end2 = Signal()                # ... and the row after it is (a register too)
        seg_rows_left = Signal(16)
        seg_lut = target == Target.LUT
        seg_left = Signal(8)               # segments after the current one
        seg_base = Signal(32)
        seg_next = Signal(32)
        m.d.comb += seg_next.eq(seg_base + ld.seg_step)


        def one_row(v):
            """Whether a segment of instruction view ``v`` is one row (LUT: one word)."""
            return Mux(v.target == Target.LUT, v.count <= lanes, v.count <= 1)

        def two_rows(v):
            """Whether its second row (LUT: word) is the segment's last, or there is none."""
            return Mux(v.target == Target.LUT, v.count <= 2 * lanes, v.count <= 2)
        # (the word goes to the last PE of its row: a register beside ``pe``, no
        # compare between the memory's ready and the row registers' enables)
        last_pe = Signal()

        def first_pe_last(v):
            """Whether a row's first word of instruction view ``v`` goes to its last
            PE: rows of other targets than SB have one."""
            return Mux(v.target == Target.SB, cfg.tn == 1, 1)
        req = self.mem.req
        req_fire = req.valid & req.ready
        m.d.comb += [
            req.valid.eq(busy & ~gen_done & have & ~empty & desc.w_rdy),
            req.payload.addr.eq(addr),
            desc.w_en.eq(req_fire),
            desc_in.row.eq(row), *([] if cfg.compact else [desc_in.word.eq(word)]),
            desc_in.pe.eq(pe), desc_in.last.eq(word_last),
        ]
        next_row = busy & ~gen_done & have & (empty | (req_fire & word_last & last_pe))
        with m.If(req_fire):
            m.d.sync += addr.eq(addr + 1)
            with m.If(word_last):
                m.d.sync += [word.eq(0), left.eq(chunk_m1), word_last.eq(chunk_m1 == 0)]
                with m.If(~last_pe):
                    m.d.sync += [pe.eq(pe + 1), last_pe.eq(pe == max(cfg.tn - 2, 0))]
            with m.Else():
                m.d.sync += [word.eq(word + 1), left.eq(left - 1), word_last.eq(left == 1)]
        with m.If(next_row):
            m.d.sync += [row.eq(row + 1), pe.eq(0), last_pe.eq(first_pe_last(ld)), word.eq(0),
                         seg_rows_left.eq(seg_rows_left - Mux(seg_lut, lanes, 1)),
                         seg_end.eq(seg_end2),
                         seg_end2.eq(Mux(seg_lut, seg_rows_left <= 3 * lanes,
                                         seg_rows_left == 3))]
            with m.If(is_nbin):
                m.d.sync += [row_base.eq(row_base + words["nbin"]),
                             addr.eq(row_base + words["nbin"])]
            with m.If(seg_end):
                with m.If(seg_left == 0):
                    m.d.sync += gen_done.eq(1)
                with m.Else():
                    m.d.sync += [seg_rows_left.eq(ld.count), seg_end.eq(one_row(ld)),
                                 seg_end2.eq(two_rows(ld)),
                                 seg_left.eq(seg_left - 1),
                                 seg_base.eq(seg_next), row_base.eq(seg_next),
                                 addr.eq(seg_next)]
            with m.If(sparse):
                m.d.sync += have.eq(0)
        # A sparse row's length from the FIFO, as soon as the row before is done.
        with m.If(busy & sparse & (~have | next_row) & lens.r_rdy):
            m.d.comb += lens.r_en.eq(1)
            m.d.sync += [have.eq(1), empty.eq(lens.r_data == 0),
                         left.eq(lens.r_data - 1), chunk_m1.eq(lens.r_data - 1),
                         word_last.eq(lens.r_data == 1)]
        with m.If(~busy):           # (taken with the instruction: see elaborate)
            fixed, fixed_m1 = fixed_chunk(iv), fixed_chunk(iv, 1)
            is_sparse = (iv.target == Target.NBIN) & ~iv.dense
            m.d.sync += [row.eq(0), word.eq(0), pe.eq(0), gen_done.eq(iv.count == 0),
                         last_pe.eq(first_pe_last(iv)),
                         addr.eq(iv.mem_addr), row_base.eq(iv.mem_addr),
                         seg_rows_left.eq(iv.count), seg_end.eq(one_row(iv)),
                         seg_end2.eq(two_rows(iv)),
                         seg_base.eq(iv.mem_addr),
                         seg_left.eq(Mux((iv.target == Target.LUT) | (iv.segments == 0), 0,
                                         iv.segments - 1)),
                         look_seg_left.eq(Mux(iv.segments == 0, 0, iv.segments - 1)),
                         sparse.eq(is_sparse), have.eq(~is_sparse),
                         empty.eq(fixed == 0), left.eq(fixed_m1), chunk_m1.eq(fixed_m1),
                         word_last.eq(fixed == 1),
                         look_addr.eq(Mux(iv.half, cfg.half(cfg.window_rows), 0) + iv.row),
                         look_left.eq(Mux(is_sparse, iv.count, 0))]
        return gen_done

    def _responses(self, m, ld, desc, rsp):
        """The read data, word by word into buffer rows (or a word's LUT entries at
        once) where their descriptors say."""
        cfg = self._cfg
        mw = cfg.mem_width
        lanes = cfg.words["values_per_word"]
        target = ld.target
        is_sb = target == Target.SB
        is_lut = target == Target.LUT
        resp = self.mem.resp
        # The read data and their descriptors go into a register first (``got``),
        # the row assembly works from it: the 512 flip-flops' enables and clear
        # come from registers, not from the memory's ``valid`` and the descriptor
        # FIFO's handshake (ECP5 timing: at Tn = Tm = 4 the board's read-data
        # register -> the FIFO's read -> the assembly's clear was 11.39 ns, 9.73 of
        # it routing).  A LOAD ends a cycle later.
        take = resp.valid & resp.ready
        m.d.comb += [resp.ready.eq(desc.r_rdy), desc.r_en.eq(take)]
        got = Signal()
        got_data = Signal(mw, reset_less=True)
        rsp_row = Signal(len(rsp.row), reset_less=True)
        rsp_pe = Signal(len(rsp.pe), reset_less=True)
        rsp_last = Signal(reset_less=True)
        m.d.sync += [got.eq(take), got_data.eq(resp.payload.data),
                     rsp_row.eq(rsp.row), rsp_pe.eq(rsp.pe), rsp_last.eq(rsp.last)]
        row_bits = max(16 * cfg.window, 64 * cfg.tm, 32 * cfg.tn, cfg.window)
        assembly = Signal(row_bits, reset_less=True)   # (data: `fresh` starts a row)
        # A complete row is written a cycle after its last word reached the
        # response register, from registers (ECP5 timing: no block-RAM output, word
        # multiplexer or address adder before the buffers' write ports): ``assembly``
        # holds the row while ``w_pending``, and a row's first word starts from
        # zeros (``fresh``).  The unit stays busy until the row is written (its
        # descriptor FIFO and the response register empty first), so nothing else
        # can read it before.
        w_pending = Signal()
        fresh = Signal(init=1)    # the next word is its row's first
        w_addr = Signal(16)       # the pending row's buffer row (its half's base + row)
        w_pe = Signal(len(rsp_pe))
        half_base = Signal(16)
        with m.Switch(target):
            for tgt, rows in ((Target.NIB, cfg.window_rows), (Target.SIB, cfg.sib_rows),
                              (Target.NBIN, cfg.window_rows), (Target.BIAS, cfg.bias_rows),
                              (Target.SB, cfg.sb_words)):
                with m.Case(tgt):
                    m.d.comb += half_base.eq(Mux(ld.half, rows // 2, 0))
        # The words of a row (of a PE's row, for SB) arrive in order from its
        # first, so the slot of the next one is a one-hot register shifted as
        # they arrive (the descriptors' word index not decoded: the slots'
        # enables are a gate on registers; ECP5 timing, at Tn = Tm = 4 the
        # index's decode was six LUTs deep, 11.1 ns)
        slot = Signal(row_bits // mw, init=1)
        with_word = Signal(row_bits)
        m.d.comb += with_word.eq(Mux(fresh, 0, assembly))
        for k in range(row_bits // mw):
            with m.If(slot[k]):
                m.d.comb += with_word[k * mw:(k + 1) * mw].eq(got_data)
        m.d.sync += w_pending.eq(got & rsp_last & ~is_lut)
        with m.If(got):
            m.d.sync += [assembly.eq(with_word), fresh.eq(rsp_last), w_pe.eq(rsp_pe),
                         slot.eq(Mux(rsp_last, 1, slot << 1)),
                         w_addr.eq(half_base + ld.row + rsp_row)]

        for port, tgt in ((self.nib_w, Target.NIB), (self.sib_w, Target.SIB),
                          (self.nbin_w, Target.NBIN), (self.bias_w, Target.BIAS)):
            m.d.comb += [port.addr.eq(w_addr),
                         port.data.eq(assembly[:len(port.data)]),
                         port.en.eq(w_pending & (target == tgt))]
        sb = self.sb_write
        m.d.comb += [
            sb.valid.eq(w_pending & is_sb),
            sb.payload.pe.eq(w_pe),
            sb.payload.addr.eq(w_addr),
            sb.payload.data.eq(assembly[:64 * cfg.tm]),
        ]
        # A LUT word's entries are written at once, from the response register
        # (those from ``count`` on are not), so a table loads at a word a cycle.
        lut_entry = Signal(16)
        m.d.comb += lut_entry.eq(rsp_row * lanes)   # for LUT loads `row` counts words
        lut = self.lut_write
        m.d.comb += [
            lut.valid.eq(got & is_lut & (lut_entry < ld.count)),
            lut.payload.pe.eq(ld.pe),
            lut.payload.half.eq(ld.half),
            lut.payload.broadcast.eq(ld.broadcast),
            lut.payload.addr.eq(lut_entry),
        ]
        # (a memory word holds at least two entries: mem_width >= 32)
        m.d.comb += lut.payload.en.eq(Cat(*(lut_entry + k < ld.count for k in range(lanes))))
        for k in range(lanes):
            m.d.comb += lut.payload.value[k].eq(got_data.word_select(k, 16))
        return got


class StoreUnit(wiring.Component):
    """``STORE``: NBout half → Encoder → memory (bitmaps and packed nonzeros).

    Members
    -------
    issue : ``In(bus.issue())``
    nbout_r : a synchronous read port of NBout
    mem_write : ``Out(bus.mem_write(mem_width))``
    """

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({
            "issue": In(bus.issue()),
            "nbout_r": Out(port_signature(ReadPort, cfg.nbout_rows, unsigned(16 * cfg.tn))),
            "mem_write": Out(bus.mem_write(cfg.mem_width)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        mw, W, tn = cfg.mem_width, cfg.window, cfg.tn
        G = cfg.groups_per_window
        lanes = cfg.words["values_per_word"]
        busy = Signal()
        # ``busy`` with a sparse STORE (a register: ECP5 timing, the instruction's
        # ``dense`` bit no longer precedes the Encoder's ``o.ready`` and the packer)
        sparse = Signal()
        start = self.issue.instr.valid & self.issue.instr.ready
        m.d.comb += [self.issue.instr.ready.eq(~busy), self.issue.busy.eq(busy)]
        wreq = self.mem_write
        ins = Signal(WORD_BITS, reset_less=True)
        st = view(Op.STORE, ins)
        out_base = Signal(16)     # the STORE's first NBout row: its half's base + ``row``
        with m.If(~busy):           # (as the load unit's: only ``busy`` waits for the issue)
            m.d.sync += ins.eq(self.issue.instr.payload)
            nxt = view(Op.STORE, self.issue.instr.payload)
            m.d.sync += out_base.eq(Mux(nxt.half, cfg.half(cfg.nbout_rows), 0) + nxt.row)

        m.submodules.encoder = enc = Encoder(tn=tn, window=W)

        # --- reader: NBout rows into windows -----------------------------------------
        rd = self.nbout_r
        win_rd = Signal(16)       # window being read (of the whole STORE)
        vwin = Signal(12)         # ... and within its vector
        vec_rd = Signal(8)        # the vector being read
        grp = Signal(range(G + 1))  # row within the window being read
        rd_pending = Signal()     # a read issued last cycle
        rd_grp = Signal(range(G + 1))
        window = Signal(16 * W)
        win_full = Signal()       # `window` holds a complete window not yet handed on
        handed = Signal()         # ... and hands it on this cycle
        reading = Signal()
        # (a row a cycle, each read's row index travelling with it; a vector's rows
        # end at ``rows``: past them the window is complete once the reads before
        # have landed, its rows left as the hand-over cleared them, zeros.  The
        # vectors' windows follow one another in NBout.)  A row read goes into a
        # register first (``rq``), then into the window (ECP5 timing: the block
        # RAM's clock-to-data, 5.6 ns, no longer precedes the window's slot
        # multiplexers); the next window's first row is read as this one is handed
        # on (``early``), so a window still takes its rows and two cycles.
        rq_valid = Signal()
        rq_grp = Signal.like(rd_grp)
        rq_data = Signal(16 * tn, reset_less=True)
        m.d.sync += [rq_valid.eq(rd_pending), rq_grp.eq(rd_grp), rq_data.eq(rd.data)]
        left_rows = reading & ~win_full & (grp < G)
        in_range = (vwin * G + grp) < st.rows
        vec_last_win = vwin == st.windows - 1
        can_read = left_rows & in_range
        # (whether the window is the STORE's last, and whether the next window's
        # first row holds outputs: registers, found while the window's rows are
        # read, as its ``vwin`` and ``vec_rd`` move on only as it is handed on;
        # so the read address is a multiplexer after two adders of registers)
        rd_last = Signal()
        next_in = Signal()
        m.d.sync += [rd_last.eq(vec_last_win & (vec_rd + 1 >= st.vectors)),
                     next_in.eq(Mux(vec_last_win, st.rows != 0, (vwin + 1) * G < st.rows))]
        early = Signal()
        m.d.comb += early.eq(handed & ~rd_last & next_in)
        row_addr, first_addr = Signal(16), Signal(16)
        m.d.comb += [row_addr.eq(out_base + win_rd * G + grp),
                     first_addr.eq(out_base + (win_rd + 1) * G),
                     rd.addr.eq(Mux(early, first_addr, row_addr)), rd.en.eq(1)]
        m.d.sync += rd_pending.eq(can_read | early)
        with m.If(can_read):
            m.d.sync += [rd_grp.eq(grp), grp.eq(grp + 1)]
        with m.If(left_rows & ~in_range & ~rd_pending):
            m.d.sync += win_full.eq(1)
        with m.If(rq_valid):
            for k in range(G):
                with m.If(rq_grp == k):
                    m.d.sync += window[k * 16 * tn:(k + 1) * 16 * tn].eq(rq_data)
            with m.If(rq_grp == G - 1):
                m.d.sync += win_full.eq(1)

        # --- the window goes to the Encoder (or, dense, straight to the packer) ------
        m.d.comb += [enc.i.payload.value.as_value().eq(window),
                     enc.i.payload.last.eq(rd_last),
                     enc.i.valid.eq(win_full & ~st.dense)]
        with m.If(win_full & ~st.dense & enc.i.ready):
            m.d.comb += handed.eq(1)

        # --- the packer and writer ---------------------------------------------------------
        # Sparse: a gearbox of ``lanes + tn`` value slots (``acc``, filled from slot 0,
        # ``cnt`` of them; the slots past ``cnt`` hold zeros) takes an Encoder beat
        # whenever ``cnt <= lanes`` and writes a word of its first ``lanes`` slots
        # whenever it holds that many, so a beat goes in every cycle the memory takes
        # a word.  A window's last beat closes it: its partial word is written, and
        # the next window's first beat waits for the empty gearbox (every window's
        # values start a word).  A window's bitmap, latched with its first beat,
        # is written before any value word.
        C = lanes + tn
        acc = [Signal(16, name=f"acc{j}") for j in range(C)]
        cnt = Signal(range(C + 1))
        # (registers beside ``cnt``: the gearbox holds a word, holds a value, has
        # room for a beat; ``o.ready`` and the write's ``valid`` come from registers)
        full, has, room = Signal(), Signal(), Signal(init=1)
        closing = Signal()         # the window's last beat is in: flush its partial word
        bm_buf = Signal(W)
        bm_left = Signal(range(cfg.words["bitmap"] + 1))
        bm_ptr = Signal(32)
        val_ptr = Signal(32)
        win_bm = Signal(32)        # the next window's bitmap and value addresses
        win_val = Signal(32)
        all_in = Signal()          # the last window's last beat went in
        # (where the next window goes: ``wwin``, its index within its vector; a vector's
        # last window done, the next one starts at the vector's base + ``vec_step``)
        wwin = Signal(12)
        wlast = Signal()           # ``wwin`` is its vector's last window (a register)
        vb_bm, vb_val = Signal(32), Signal(32)
        advance = Signal()         # the next window's addresses taken: step them on
        beat = enc.o.payload
        n_valid = popcount(m, beat.valid, "beat_count")

        w_bm = Signal()            # bitmap words to write: ``bm_left != 0``, a register
        w_val = ~w_bm & (full | (closing & has))
        wr_val = w_val & wreq.ready
        take = Signal()
        m.d.comb += [enc.o.ready.eq(sparse & room & ~closing
                                    & ~(w_bm & beat.first)),
                     take.eq(enc.o.valid & enc.o.ready)]
        # the slots once this cycle's word is out, and where the beat's values go
        pos = Signal(range(C + 1))
        m.d.comb += pos.eq(Mux(wr_val, Mux(full, cnt - lanes, 0), cnt))
        for j in range(C):
            kept = Mux(wr_val, Mux(full, acc[j + lanes] if j + lanes < C else 0, 0), acc[j])
            add = 0
            for d in range(min(tn, j + 1)):
                add = add | Mux(take & (pos == j - d) & beat.valid[d], beat.value[d], 0)
            m.d.sync += acc[j].eq(kept | add)
        # (the slots next cycle and what they imply, found for a beat taken and for
        # none, then chosen by ``take``: the handshake is the last level before
        # the registers, not the first of an adder and its compares; ECP5 timing)
        n_take, n_next = Signal(range(C + 1)), Signal(range(C + 1))
        m.d.comb += [n_take.eq(pos + n_valid), n_next.eq(Mux(take, n_take, pos))]
        m.d.sync += [cnt.eq(n_next),
                     full.eq(Mux(take, n_take >= lanes, pos >= lanes)),
                     has.eq(Mux(take, n_take != 0, pos != 0)),
                     room.eq(Mux(take, n_take <= lanes, pos <= lanes))]
        with m.If(take & beat.end):
            m.d.sync += closing.eq(n_take != 0)
        with m.If(take & beat.last):
            m.d.sync += all_in.eq(1)
        with m.Elif(Mux(take, n_take == 0, pos == 0)):
            m.d.sync += closing.eq(0)
        with m.If(take & beat.first):
            m.d.sync += [bm_buf.eq(beat.bitmap), bm_left.eq(cfg.words["bitmap"]), w_bm.eq(1),
                         bm_ptr.eq(win_bm), val_ptr.eq(win_val)]
        with m.If(sparse & w_bm & wreq.ready):
            m.d.sync += [bm_left.eq(bm_left - 1), w_bm.eq(bm_left != 1),
                         bm_ptr.eq(bm_ptr + 1), bm_buf.eq(bm_buf >> mw)]
        with m.If(sparse & wr_val):
            m.d.sync += val_ptr.eq(val_ptr + 1)
        sparse_done = all_in & ~has & ~closing & ~w_bm

        # Dense: the window's words straight from the reader's register, from ``win_val``
        # (the word's index and address counted in registers: no subtraction or
        # adder before the word multiplexer and the write port; ECP5 timing).
        k = Signal(range(W // lanes + 1))
        k_addr = Signal(32)
        # (the write port's signals each one expression, outside the FSM's cases: a
        # Verilog ``always @*`` whose inputs never change would leave them x at the
        # start in an event-driven simulator)
        with m.FSM(name="writer") as writer:
            with m.State("IDLE"):
                with m.If(busy & reading & st.dense & win_full):
                    m.d.sync += [k.eq(0), k_addr.eq(win_val)]
                    m.next = "DENSE"
            with m.State("DENSE"):
                with m.If(wreq.ready):
                    m.d.sync += [k.eq(k + 1), k_addr.eq(k_addr + 1)]
                    with m.If(k == W // lanes - 1):
                        m.d.comb += handed.eq(1)
                        m.next = "IDLE"
        m.d.comb += [
            wreq.valid.eq(Mux(st.dense, writer.ongoing("DENSE"), busy & (w_bm | w_val))),
            wreq.payload.addr.eq(Mux(st.dense, k_addr, Mux(w_bm, bm_ptr, val_ptr))),
            wreq.payload.data.eq(Mux(st.dense,
                                     window.word_select(k[:max(1, clog2(W // lanes))], mw),
                                     Mux(w_bm, bm_buf[:mw], Cat(*acc[:lanes])))),
        ]

        with m.If(handed):
            m.d.sync += [win_full.eq(0), grp.eq(early), rd_grp.eq(0), win_rd.eq(win_rd + 1),
                         window.eq(0),
                         vwin.eq(Mux(vec_last_win, 0, vwin + 1)),
                         vec_rd.eq(vec_rd + vec_last_win)]
            with m.If(rd_last):
                m.d.sync += reading.eq(0)

        m.d.comb += advance.eq(Mux(sparse, take & beat.first, handed))
        next_bm, next_val = vb_bm + st.vec_step, vb_val + st.vec_step
        with m.If(advance & wlast):
            m.d.sync += [wwin.eq(0), wlast.eq(st.windows == 1),
                         vb_bm.eq(next_bm), vb_val.eq(next_val),
                         win_bm.eq(next_bm), win_val.eq(next_val)]
        with m.Elif(advance):
            m.d.sync += [wwin.eq(wwin + 1), wlast.eq(wwin + 2 == st.windows),
                         win_bm.eq(win_bm + cfg.words["bitmap"]),
                         win_val.eq(win_val + cfg.words["nbin"])]

        # While idle the reader's and writer's counters rest at their start values
        # (nothing reads them then): the issue handshake enables only ``busy`` and
        # ``reading``.
        with m.If(~busy):
            sv = view(Op.STORE, self.issue.instr.payload)
            m.d.sync += [busy.eq(start), sparse.eq(start & ~sv.dense),
                         reading.eq(start & (sv.windows != 0)),
                         win_rd.eq(0), vwin.eq(0), vec_rd.eq(0), grp.eq(0), win_full.eq(0),
                         rd_pending.eq(0), all_in.eq(sv.windows == 0), wwin.eq(0),
                         wlast.eq(sv.windows == 1),
                         win_bm.eq(sv.bm_addr), win_val.eq(sv.mem_addr),
                         vb_bm.eq(sv.bm_addr), vb_val.eq(sv.mem_addr)]
        with m.Elif(Mux(st.dense, writer.ongoing("IDLE"), sparse_done) & ~reading):
            m.d.sync += [busy.eq(0), sparse.eq(0)]
        return m
