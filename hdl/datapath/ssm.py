"""The synapse selector (SSM, thesis §4.2.1, docs/architecture.md §3): per PE, the weights
named by the synapse indices, picked out of a window of ``4 * tm`` decoded weights.

Two parts, because all PEs share the synapse indices and move in lockstep:

* :class:`SSMSequencer` (one, beside the NSM): splits each NSM beat into
  *steps*, one per SSM window its indices touch, and computes for each step
  the SB word to read and the window inside that word.  The SB read pointer
  jumps straight to the next window a beat needs (windows no index touches
  cost nothing).  A beat costs ``max(1, windows touched)`` cycles:
  :func:`golden.twins.ssm.cycles`.  Its steps travel the H-tree to every PE.
* :class:`SSM` (one per PE, after the SB, before the WDM): takes the packed SB
  word of a step, selects the step's window of ``4 * tm`` slot codes, routes
  each lane's code out of it (a ``4 * tm``-to-1 mux per lane), and on the
  beat's final step emits the beat's ``tm`` codes with their neurons to the
  WDM, which decodes them (:mod:`hdl.datapath.wdm`).

A ``4 * tm``-slot window is a quarter, half or all of a ``64 * tm``-bit SB word
with 4-, 8- or 16-bit slots, so narrow weights need fewer SB reads per window;
the word's slots are lane-interleaved (:func:`golden.contract.packing.slot_offset`),
so a window's code ``j`` is always in the word's 16-bit lane ``j``.
Codes are routed at the width of the widest slot supported
(:func:`hdl.datapath.wdm.code_width`), the slot's value in the low bits.

Generated Verilog: ``python -m hdl.generate ssm --tm TM`` (module ``ssm``, the
per-PE selector) and ``ssm_seq`` (module ``ssm_seq``, the sequencer).

``ssm_seq``: ``i`` (in) the NSM beat (:func:`hdl.datapath.nsm.nsm_beat_layout`); ``tile`` (in)
``sb_base`` (the tile's first SB word), ``slot`` (0/1/2: 4/8/16-bit), ``table`` (which
of the WDM's two lookup tables), taken after the tile's last step; ``o`` (out) the
step (:func:`step_layout`).
``ssm``: ``i`` (in) ``word`` (a packed SB word) and ``side`` (the step); ``o``
(out) ``neuron[tm]``, ``code[tm]``, ``valid`` (the beat's lanes), ``slot``, ``table``,
``last``.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.contract.isa import Slot
from golden.contract.packing import SLOT_WIDTHS, check_widths, slot_offset
from golden.contract.params import check_int, check_pow2, clog2
from hdl.datapath.logic import tree_or
from hdl.datapath.nsm import nsm_beat_layout
from hdl.datapath.skid import stream_stage
from hdl.datapath.wdm import code_width
from hdl.registry import TM, register

__all__ = ["step_layout", "tile_layout", "SSMSequencer", "SSM", "ssm_beat_layout"]


def step_layout(*, tm, addr_width=16, neuron_width=16):
    """One SSM step: which SB word and window, which lanes, and the beat's data."""
    return data.StructLayout({
        "sb_addr":        unsigned(addr_width),
        "slot":           Slot,
        "table":          1,                 # the WDM's lookup table
        "window_in_word": unsigned(2),
        "valid":          unsigned(tm),      # the beat's lanes
        "mask":           unsigned(tm),      # the lanes resolved from the window read
        "mask_held":      unsigned(tm),      # the lanes resolved from the held window
        "offset":         data.ArrayLayout(unsigned(clog2(4 * tm)), tm),
        "neuron":         data.ArrayLayout(signed(neuron_width), tm),
        "final":          1,                 # the beat's last step
        "last":           1,                 # the tile's last beat
    })


def tile_layout(*, addr_width=16):
    return data.StructLayout({"sb_base": unsigned(addr_width), "slot": Slot, "table": 1})


def ssm_beat_layout(*, tm, widths=SLOT_WIDTHS, neuron_width=16):
    """What the SSM hands the WDM: a beat's slot codes, lanes, slot width and neurons."""
    return data.StructLayout({
        "neuron": data.ArrayLayout(signed(neuron_width), tm),
        "code": data.ArrayLayout(unsigned(code_width(widths)), tm),
        "valid": unsigned(tm),
        "slot": Slot,
        "table": 1,
        "last": 1,
    })


class SSMSequencer(wiring.Component):
    """Splits NSM beats into per-window SSM steps and addresses the SB.

    Parameters
    ----------
    tm : int
        Lanes per beat, a power of two in 1..64; the SSM window is ``4 * tm``.
    index_width : int
        Width of the NSM's synapse indices, 8..32.
    addr_width : int
        SB word address width, 4..24.
    compact : bool
        Small parts: the output register without a skid register
        (:func:`hdl.datapath.skid.stream_stage`).
    """

    def __init__(self, *, tm, index_width=16, addr_width=16, neuron_width=16, compact=False):
        self._tm = check_pow2("tm", tm, 1, 64)
        self._compact = compact
        self._index_width = check_int("index_width", index_width, 8, 32)
        self._addr_width = check_int("addr_width", addr_width, 4, 24)
        self._neuron_width = neuron_width
        self.step_layout = step_layout(tm=self._tm, addr_width=self._addr_width,
                                       neuron_width=neuron_width)
        super().__init__({
            "i": In(stream.Signature(nsm_beat_layout(tm=self._tm, index_width=index_width,
                                                     neuron_width=neuron_width))),
            "tile": In(stream.Signature(tile_layout(addr_width=self._addr_width))),
            "o": Out(stream.Signature(self.step_layout)),
        })
        #: no beat held and no step waiting at the output (a probe, see hdl.datapath.nsm)
        self.idle = Signal()

    @property
    def latency(self):
        return 2

    @property
    def parameters(self):
        return {"tm": self._tm, "index_width": self._index_width,
                "addr_width": self._addr_width, "window": 4 * self._tm, "latency": self.latency}

    def elaborate(self, platform):
        m = Module()
        tm = self._tm
        lg_win = clog2(4 * tm)
        gw = max(1, clog2(tm + 1))                  # group numbers 0..tm

        # A beat's lanes (filled from lane 0, indices rising with the lane and
        # across the beats of a tile, the NSM's order) fall into *groups* of
        # consecutive lanes in the same SSM window.  Computed as the beat is
        # taken: each lane's group number, the number of groups and whether
        # the first group is in the window the PEs still hold (the last one
        # read for this tile: the last lane's of the beat before).  Each step
        # then reads one group's window; if the first group is held, the first
        # step takes it from the held copy and reads the second group's (a
        # beat all in the held window reads it once more).
        b_valid = Signal()
        b = Signal(self.i.payload.shape(), reset_less=True)
        gid = [Signal(gw, name=f"lane{k}_group", reset_less=True) for k in range(tm)]
        n_grp = Signal(gw, reset_less=True)
        b_last_win = Signal(self._index_width, reset_less=True)  # the beat's last lane's
        held_lanes = Signal(tm, reset_less=True)    # taken from the held copy (first step)
        rg = Signal(gw, reset_less=True)            # the group the next step reads
        left = Signal(gw, reset_less=True)          # steps after the next one
        final = Signal(reset_less=True)             # the next step is the beat's last
        first = Signal(reset_less=True)             # the next step is the beat's first
        held_valid = Signal()
        held_win = Signal(self._index_width)

        def win(beat, k):
            return beat.synapse_index[k] >> lg_win

        lane_win = [win(b, k) for k in range(tm)]
        in_win = Signal(tm)
        for k in range(tm):
            m.d.comb += in_win[k].eq(b.valid[k] & (gid[k] == rg))
        from_held = Mux(first, held_lanes, 0)
        # The window read: the first lane of the group's, or (a beat without
        # lanes) the held window; a register (``read_win``), found as the beat
        # is taken and as each step moves on to the next group (ECP5 timing: no
        # group compare and lane select before the SB address's adder).
        read_win = Signal(self._index_width, reset_less=True)

        def first_win(wins, run):
            """``wins[k]`` of the first lane ``k`` of ``run`` (a run of consecutive
            lanes: a group's), an OR over the lanes."""
            lead = run & ~(run << 1)
            return tree_or(lead[k].replicate(self._index_width) & wins[k] for k in range(tm))

        # Windows per SB word: 4, 2, 1 for 4-, 8-, 16-bit slots.
        slot = self.tile.payload.slot
        word = Signal(self._index_width)
        win_in_word = Signal(2)
        with m.Switch(slot):
            with m.Case(Slot.W4):
                m.d.comb += [word.eq(read_win >> 2), win_in_word.eq(read_win[:2])]
            with m.Case(Slot.W8):
                m.d.comb += [word.eq(read_win >> 1), win_in_word.eq(read_win[:1])]
            with m.Default():
                m.d.comb += [word.eq(read_win), win_in_word.eq(0)]

        m.submodules.out = skid = stream_stage(self.step_layout, compact=self._compact)
        emit = b_valid & self.tile.valid & skid.i.ready
        done = emit & final
        m.d.comb += self.idle.eq(~b_valid & ~self.o.valid & skid.i.ready)
        m.d.comb += [
            self.i.ready.eq(~b_valid | done),
            self.tile.ready.eq(done & b.last),
        ]

        # The held window after the beat in hand (what a beat taken now compares
        # with): the beat's last lane's, unchanged by a beat without lanes.
        next_held_valid = Signal()
        next_held_win = Signal(self._index_width)
        m.d.comb += [next_held_valid.eq(Mux(b_valid, ~b.last, held_valid)),
                     next_held_win.eq(Mux(b_valid & (n_grp != 0), b_last_win,
                                          Mux(held_valid, held_win, 0)))]
        with m.If(done):
            m.d.sync += [held_valid.eq(next_held_valid), held_win.eq(next_held_win)]

        # Taking a beat: its groups, its held lanes, its first step.
        new = self.i.payload
        bnd = [0] + [new.valid[k] & (win(new, k) != win(new, k - 1)) for k in range(1, tm)]
        new_gid = [Signal(gw, name=f"new_group{k}") for k in range(tm)]
        for k in range(tm):
            m.d.comb += new_gid[k].eq(sum(bnd[1:k + 1]) if k else 0)
        new_n = Signal(gw)
        m.d.comb += new_n.eq(Mux(new.valid[0], new_gid[tm - 1] + 1, 0))
        split = Signal()                            # group 0 held, group 1 read
        m.d.comb += split.eq(next_held_valid & new.valid[0] & (new_n > 1) &
                             (win(new, 0) == next_held_win))
        group0 = Signal(tm)
        m.d.comb += group0.eq(Cat(*(new.valid[k] & (new_gid[k] == 0) for k in range(tm))))
        new_last_win = Signal(self._index_width)
        m.d.comb += new_last_win.eq(tree_or(
            (new.valid[k] & ~new.valid[k + 1] if k + 1 < tm else new.valid[k])
            .replicate(self._index_width) & win(new, k) for k in range(tm)))
        new_steps = Signal(gw)                      # max(1, groups - split)
        m.d.comb += new_steps.eq(Mux(new_n == 0, 1, new_n - split))
        with m.If(self.i.ready):
            m.d.sync += b_valid.eq(self.i.valid)
        # (group 0's first lane is lane 0)
        group1 = Cat(*(new.valid[k] & (new_gid[k] == 1) for k in range(tm)))
        group1_win = first_win([win(new, k) for k in range(tm)], group1)
        new_read_win = Mux(new_n == 0, Mux(next_held_valid, next_held_win, 0),
                           Mux(split, group1_win, win(new, 0)))
        next_in_win = Cat(*(b.valid[k] & (gid[k] == rg + 1) for k in range(tm)))
        with m.If(self.i.ready & self.i.valid):
            m.d.sync += [b.eq(new), n_grp.eq(new_n), b_last_win.eq(new_last_win),
                         read_win.eq(new_read_win),
                         held_lanes.eq(Mux(split, group0, 0)), rg.eq(split), first.eq(1),
                         left.eq(new_steps - 1), final.eq(new_steps == 1)]
            m.d.sync += [gid[k].eq(new_gid[k]) for k in range(tm)]
        with m.Elif(emit):
            m.d.sync += [rg.eq(rg + 1), first.eq(0), left.eq(left - 1),
                         final.eq(left == 1),
                         read_win.eq(first_win(lane_win, next_in_win))]

        p = skid.i.payload
        m.d.comb += [
            skid.i.valid.eq(emit),
            p.sb_addr.eq(self.tile.payload.sb_base + word),
            p.slot.eq(slot),
            p.table.eq(self.tile.payload.table),
            p.window_in_word.eq(win_in_word),
            p.valid.eq(b.valid),
            p.mask.eq(in_win),
            p.mask_held.eq(from_held),
            p.neuron.eq(b.neuron),
            p.final.eq(final),
            p.last.eq(final & b.last),
        ]
        for k in range(tm):
            m.d.comb += p.offset[k].eq(b.synapse_index[k][:lg_win])
        wiring.connect(m, skid.o, wiring.flipped(self.o))
        return m


class SSM(wiring.Component):
    """Per-PE synapse selector: routes each lane's slot code out of a 4*tm window.

    Parameters
    ----------
    tm : int
        Lanes, a power of two in 1..64.
    addr_width : int
        Must match the sequencer's (it sizes the step carried in ``side``).
    widths : tuple of int
        Slot widths of the SB words, a non-empty subset of (4, 8, 16); codes are
        ``max(widths)`` bits.
    compact : bool
        Small parts: the output register without its skid register (a final
        step waits in stage w while the output stalls).

    Members
    -------
    i : ``In(stream.Signature({"word": 64*tm bits, "side": step_layout}))``
        The SB word of a step.
    o : ``Out(stream.Signature(ssm_beat_layout))``
        One beat per NSM beat, on its final step; lanes outside the beat
        (``valid`` 0) carry code 0.
    """

    def __init__(self, *, tm, addr_width=16, neuron_width=16, widths=SLOT_WIDTHS, compact=False):
        self._tm = check_pow2("tm", tm, 1, 64)
        self._compact = compact
        self._addr_width = check_int("addr_width", addr_width, 4, 24)
        self._widths = check_widths(widths)
        self.step_layout = step_layout(tm=self._tm, addr_width=self._addr_width,
                                       neuron_width=neuron_width)
        self.input_layout = data.StructLayout({
            "word": unsigned(64 * self._tm),
            "side": self.step_layout,
        })
        self.beat_layout = ssm_beat_layout(tm=self._tm, widths=self._widths,
                                           neuron_width=neuron_width)
        super().__init__({
            "i": In(stream.Signature(self.input_layout)),
            "o": Out(stream.Signature(self.beat_layout)),
        })

    @property
    def latency(self):
        return 2

    @property
    def parameters(self):
        return {"tm": self._tm, "addr_width": self._addr_width, "window": 4 * self._tm,
                "widths": list(self._widths), "code_width": code_width(self._widths),
                "latency": self.latency}

    def elaborate(self, platform):
        m = Module()
        tm = self._tm
        W = 4 * tm
        cw = code_width(self._widths)
        step = self.i.payload.side
        word = self.i.payload.word

        # Two stages: w (the step's window of codes, extracted from the word,
        # a register: the SB's read data does not run on into the lane
        # multiplexers; with it each lane's selection) and the output register
        # (each lane's code).
        # (SB words are lane-interleaved, at golden.contract.packing.slot_offset,
        # the rule the golden model packs by: code j of every window sits in
        # the word's 16-bit lane j, so each code is
        # picked within its lane, from the block RAM that holds it: no select
        # spans the word; ECP5 routing.)
        window = [Signal(cw, name=f"win{j}") for j in range(W)]
        for j in range(W):
            with m.Switch(step.slot):
                for width in self._widths:
                    with m.Case(Slot.of(width)):
                        with m.Switch(step.window_in_word):
                            for q in range(16 // width):
                                with m.Case(q):
                                    at = slot_offset(q * W + j, width, tm)
                                    m.d.comb += window[j].eq(word[at:at + width])
        w_valid = Signal()
        w_win = [Signal(cw, name=f"w_win{j}", reset_less=True) for j in range(W)]
        w_step = Signal(self.step_layout, reset_less=True)
        # The output stage is a register and a skid register beside it (as
        # :class:`SkidBuffer`'s): stage w moves on whenever the skid register is
        # empty, so the enables of stage w and of the SB word's skid buffer
        # before it are a gate or two on this module's registers, not the end of
        # the WDM's and PEFU's handshake (ECP5 timing and routing: those enables
        # reach some 700 flip-flops per PE).  Latency and throughput unchanged.
        # (Compact: no skid register; a final step leaves stage w only into a free
        # output register.)
        s_valid = Signal()
        o_free = ~self.o.valid | self.o.ready
        if self._compact:
            take = w_valid & (o_free | ~w_step.final)
        else:
            take = w_valid & ~s_valid                # stage o takes the step in w
        w_free = ~w_valid | take
        enter = w_free & self.i.valid                # a step enters stage w
        m.d.comb += self.i.ready.eq(w_free)
        with m.If(w_free):
            m.d.sync += w_valid.eq(self.i.valid)
        # Each lane's control folded into registers as the step enters stage w, so
        # the lanes' data paths carry no per-lane mask (ECP5 timing and routing: a
        # mask bit no longer fans out to every bit of a lane's multiplexers):
        # * ``w_sel``: a lane resolved from the window read, its offset one-hot
        #   (all 0 otherwise);
        # * ``w_hp``: a lane resolved from the window held (the previous step's,
        #   still in ``w_win`` as this step enters), its code picked now (0
        #   otherwise).
        w_sel = [Signal(W, name=f"w_sel{k}", reset_less=True) for k in range(tm)]
        w_hp = [Signal(cw, name=f"w_hp{k}", reset_less=True) for k in range(tm)]
        held_word = Cat(*w_win)
        with m.If(enter):
            m.d.sync += [w_win[j].eq(window[j]) for j in range(W)]
            m.d.sync += w_step.eq(step)
            for k in range(tm):
                m.d.sync += [
                    w_sel[k].eq(Mux(step.mask[k], 1 << step.offset[k], 0)),
                    w_hp[k].eq(Mux(step.mask_held[k],
                                   held_word.word_select(step.offset[k], cw), 0)),
                ]

        # A lane's code is resolved in one step of its beat: ``acc`` gathers the
        # beat's codes (an OR: unresolved lanes are 0) and starts again after the
        # beat's final step; lanes outside the beat are never resolved, so 0.
        acc = [Signal(cw, name=f"acc{k}") for k in range(tm)]
        code = []
        for k in range(tm):
            pick = tree_or([w_hp[k]] + [Mux(w_sel[k][j], w_win[j], 0) for j in range(W)])
            resolved = Signal(cw, name=f"code{k}")
            m.d.comb += resolved.eq(acc[k] | pick)
            code.append(resolved)
        with m.If(take):
            m.d.sync += [acc[k].eq(Mux(w_step.final, 0, code[k])) for k in range(tm)]
        # The beat of the step in stage w (on its final step), and the output:
        # (payloads reset-less registers: only the valid bits need the reset)
        beat = Signal(self.beat_layout)
        m.d.comb += [beat.neuron.eq(w_step.neuron), beat.valid.eq(w_step.valid),
                     beat.slot.eq(w_step.slot), beat.table.eq(w_step.table),
                     beat.last.eq(w_step.last)]
        m.d.comb += [beat.code[k].eq(code[k]) for k in range(tm)]
        give = take & w_step.final
        out = Signal(self.beat_layout, reset_less=True)
        if self._compact:
            m.d.comb += self.o.payload.eq(out)
            with m.If(o_free):
                m.d.sync += [out.eq(beat), self.o.valid.eq(give)]
            return m
        skid = Signal(self.beat_layout, reset_less=True)
        m.d.comb += self.o.payload.eq(out)
        with m.If(~s_valid):                         # (follows the beat while empty)
            m.d.sync += skid.eq(beat)
        with m.If(o_free):
            with m.If(s_valid):
                m.d.sync += [out.eq(skid), self.o.valid.eq(1), s_valid.eq(0)]
            with m.Else():
                m.d.sync += [out.eq(beat), self.o.valid.eq(give)]
        with m.Elif(give):                           # the output holds: the beat skids
            m.d.sync += s_valid.eq(1)
        return m


register("ssm", lambda *, tm: SSM(tm=tm),
         help="SSM (per PE): pick the Tm slot codes of a beat out of a 4*Tm window of an SB word",
         options=(TM,))
register("ssm_seq", lambda *, tm: SSMSequencer(tm=tm),
         help="SSM sequencer (shared): split NSM beats into per-window steps, address the SBs",
         options=(TM,))
