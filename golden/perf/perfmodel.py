"""The event-driven performance model (thesis §5.1.2, docs/architecture.md §6): predicts the
cycles of a compiled program on the generated accelerator, and its timeline.

Two halves:

* :func:`work` runs the program on the golden machine and records, per
  instruction, what it makes its unit do: memory words read (``LOAD``, by
  target; an NBin row moves only its window's nonzeros), words written and
  windows encoded (``STORE``), NSM windows and SSM steps per output group
  (``COMPUTE``, from :func:`golden.twins.ssm.tile_steps` through the machine).
* :func:`predict` replays the instructions through a model of the control
  processor: in-order dispatch from a two-entry queue, a second instruction in
  the same cycle when the compiler marked it ``par``, the ping-pong
  scoreboard (:func:`golden.contract.isa.accesses`, the rule of
  :mod:`hdl.control.controller`), ``SYNC`` and
  ``END`` waiting for every unit, ``fence`` LOADs waiting for the store unit;
  each unit busy for the duration its :class:`Timing` gives the instruction's
  work under the memory model (latency, interval between requests, stall
  probability).  Events are instruction issues and completions; time jumps
  from one to the next.

The timing constants are the RTL's: how many cycles a unit spends around the
work it does (a LOAD's request pipeline, the compute unit's fill and drain, the
store unit's read-encode-write loop).  ``make bench`` measures the model's
error against the RTL (Amaranth simulation of the generated design, unit by
unit and in total).
"""

from dataclasses import dataclass, field

import numpy as np

from golden.contract.isa import UNIT, Op, Target, accesses, conflict, decode, vectors
from golden.contract.layout import store_windows
from golden.twins.fc import sequencer_cycles
from golden.twins.machine import Machine

__all__ = ["Timing", "TIMING", "work", "predict", "layer_cycles",
           "store_cycles", "unit_ready"]

UNITS = ("load", "store", "compute")


@dataclass(frozen=True)
class Timing:
    """The units' cycles around their work, read off the RTL (:mod:`hdl.control.dma`,
    :mod:`hdl.control.compute`, :mod:`hdl.control.controller`) and checked against it by the bench.

    * LOAD: ``load_fixed + latency + words`` (a request per cycle, the unit
      idles when the last datum, through its response register, is written;
      LUT: a word's entries at once; sparse NBin rows ``nbin_lookup`` more,
      their lengths looked up first, and an empty row a cycle unless it trails
      the last request: :func:`_sparse_rows`; a LOAD's segments cost nothing
      more);
    * COMPUTE: ``fill(tn, tm)`` + the cycles of its groups (the NSM's drain stage
      to the SSM sequencer cycle by cycle, :func:`golden.twins.fc.sequencer_cycles`:
      a step a cycle, an empty window a cycle of the drain stage, hidden only
      where the pipeline holds a beat ahead of the sequencer; and each group's
      wait for room in the bias configuration queue, the FIFO and the PEs' skid
      buffers, configuration by configuration: :func:`compute_time`); the
      fill is the pipeline NSM → SSM → H-tree → PE → NBout, whose last stage
      reads each output's NBout row before writing it.  The unit takes the next
      COMPUTE the cycle after this one's first window, once the one before has
      ended; it starts when this one has fed its last window and hands its
      first window on ``feed`` cycles after its start (:meth:`feed_cycles`) but
      not before the slice's front has run empty, ``drain(tn, tm)`` cycles
      before this one's end (the H-tree and PE pipeline): :func:`compute_span`;
    * STORE, sparse: the reader, the Encoder's two stages and the writer's
      gearbox, register by register (:func:`store_cycles`: a window's ``G`` NBout
      rows read a row a cycle, an Encoder beat a cycle, a word written a
      cycle); dense, per window a cycle and one per row read (none past the
      STORE's ``rows``), then its ``words`` and a cycle between windows (no
      overlap), plus ``store_fixed_dense``;
    * instructions issue from the controller's two-entry queue
      (:class:`_IssueQueue`; the first two cycles after the fetch fill it) and
      reach their unit ``dispatch`` cycles later (the controller's issue
      register), in which the unit counts as busy; none in a compact
      configuration (:meth:`dispatch_cycles`).
    """
    dispatch: int = 1
    load_fixed: int = 3
    # sparse NBin rows: their lengths come through the load unit's lookup
    # pipeline (NIBin read, popcount parts, sum, FIFO) before the first request
    nbin_lookup: int = 5
    # sparse NBin rows: from the request generator's last (empty) row to the end
    empty_tail: int = -2
    store_fixed_dense: int = 2
    config_depth: int = 16     # hdl.control.compute.CONFIG_DEPTH: the tile/bias FIFOs' depth
    # + log2(tn) (+1 at tm >= 8): from a group's last window fed to the PEs taking
    # its configuration (the group's last beat)
    config_release: int = 17
    # skipping windows: the fill is longer by the cycles to read the first SIB
    # mask row, register it, count it and enter it in the mask queue
    skip_fill: int = 4
    # from a COMPUTE's start to its first window handed to the slice (+ skip_fill
    # when it skips windows): the part of the fill that runs while the COMPUTE
    # before still has windows in the NSM and the sequencer
    feed: int = 3

    def feed_cycles(self, step):
        """Cycles from COMPUTE ``step``'s start to its first window handed on, were
        the slice's front idle: ``feed``, + ``skip_fill`` when it skips windows."""
        return self.feed + self.skip_fill * (step.fields["skip"] and not step.fields["dense"])

    def dispatch_cycles(self, compact=False):
        """Cycles between an instruction's issue and its unit's start: ``dispatch``,
        or none when ``compact`` (small parts: no issue register)."""
        return 0 if compact else self.dispatch

    def drain(self, tn, tm, compact=False):
        """Cycles from the NSM and the sequencer running empty to the end of a
        COMPUTE: the H-tree, the PEs, the compute unit's output register and the
        NBout row read and write; the next COMPUTE starts while they drain.
        ``compact``: a PEFU stage fewer (its operand register,
        :class:`hdl.datapath.pefu.PEFU`)."""
        lt, lm = tn.bit_length() - 1, tm.bit_length() - 1
        return 22 + lt + lm - bool(compact)

    def fill(self, tn, tm, window=None, compact=False):
        """The compute unit's fill and drain: grows with the H-tree (log2 tn), the
        adder tree (log2 tm) and the NSM's prefix stages (two levels of the
        log2(window)-level tree each; the window is ``16 * tm`` unless given);
        ``compact``: a PEFU stage fewer."""
        lt, lm = tn.bit_length() - 1, tm.bit_length() - 1
        window = 16 * tm if window is None else window
        return 33 + lt + lm + -(-((window - 1).bit_length()) // 2) - bool(compact)


TIMING = Timing()


@dataclass
class Step:
    """One instruction and the work it gives its unit."""
    index: int
    op: str
    fields: dict
    unit: str | None
    reads: int = 0          # golden.contract.isa.accesses: masks over isa.Resource
    writes: int = 0
    words: int = 0          # memory words read (LOAD) or written (STORE)
    values: int = 0         # STORE: values through the packer
    windows: int = 0        # STORE: windows encoded; COMPUTE: NSM windows fed
    groups: int = 0         # COMPUTE: output groups
    steps: int = 0          # COMPUTE: SSM steps handed to the PEs
    ideal: int = 0          # COMPUTE: sum ceil(pairs / Tm)
    extra: dict = field(default_factory=dict)


class _Tracer(Machine):
    def __init__(self, cfg, image):
        super().__init__(cfg, image)

    def load(self, f):
        cfg, w = self.cfg, self.cfg.words
        t = f["target"]
        if t in (Target.NIB, Target.SIB):
            words = f["count"] * w["bitmap"]
        elif t == Target.NBIN:
            if f["dense"]:
                words = f["count"] * w["nbin"]
            else:
                lanes = w["values_per_word"]
                rows = [-(-int(self.nib[self._row(cfg.window_rows, f["half"], f["row"] + i)]
                                .sum()) // lanes) for i in range(f["count"])]
                self._cur.extra.setdefault("row_words", []).extend(rows)
                words = sum(rows)
        elif t == Target.SB:
            words = f["count"] * cfg.tn * w["sb"]
        elif t == Target.BIAS:
            words = f["count"] * w["bias"]
        else:
            words = -(-f["count"] // w["values_per_word"])
            self._cur.extra["entries"] = f["count"]
        self._cur.words += words       # (once per segment: Machine.execute splits them)
        self._cur.extra["target"] = t
        super().load(f)

    def compute(self, f):
        before = dict(self.stats)
        self.group_windows = []
        super().compute(f)
        s = self._cur
        s.extra["group_cycles"] = sequencer_cycles(self.group_windows)
        self.group_windows = None
        s.groups = f["groups"] * vectors(f)      # output groups over all its vectors
        s.windows = self.stats["windows"] - before.get("windows", 0)   # the windows fed
        s.steps = self.stats.get("steps", 0) - before.get("steps", 0)
        s.extra["window_cycles"] = sum(s.extra["group_cycles"])
        s.ideal = self.stats.get("ideal", 0) - before.get("ideal", 0)
        s.extra["beats"] = self.stats.get("beats", 0) - before.get("beats", 0)
        for key in ("sb_words", "sib_rows"):     # per PE; rows (golden.perf.events)
            s.extra[key] = self.stats[key] - before[key]

    def store(self, f):
        cfg, w = self.cfg, self.cfg.words
        s = self._cur
        lanes = w["values_per_word"]
        wins = store_windows(f, cfg)
        per_window = [sum(int(np.count_nonzero(self.nbout[self._row(cfg.nbout_rows, f["half"],
                                                                   row + k)]))
                          for k in range(rows)) for row, rows, _, _ in wins]
        s.windows = len(wins)
        s.values = len(wins) * cfg.window
        s.extra.update(rows=f["rows"], nonzeros=per_window, rows_read=sum(r for _, r, _, _ in wins))
        if f["dense"]:
            s.words = len(wins) * w["nbin"]
        else:   # per window its bitmap and its packed nonzeros
            s.words = sum(w["bitmap"] + -(-n // lanes) for n in per_window)
        super().store(f)


def work(program):
    """Run ``program`` on the golden machine; return its :class:`Step` list."""
    m = _Tracer(program.cfg, program.image)
    out = []
    for i, word in enumerate(program.words):
        op, f = decode(word)
        r, w = accesses(op, f)
        m._cur = Step(i, op, f, UNIT.get(op), r, w)
        m.execute(op, f)
        out.append(m._cur)
        if op == Op.END:
            break
    return out


def layer_cycles(program, prediction):
    """Per layer of ``program`` (its ``layers``' names, read off each instruction's
    comment) the cycles of :func:`predict`'s timeline from the end of the layer
    before (0 for the first) to the end of its own last instruction: the layers'
    cycles add up to the program's, less the END."""
    names = [layer["name"] for layer in program.layers]
    ends = {}
    for e in prediction["timeline"]:
        head = (program.comments[e["index"]] or "").split(":", 1)[0].strip()
        if head in names:
            ends[head] = max(ends.get(head, 0), int(round(e["end"])))
    out, prev = {}, 0
    for name in names:
        if name in ends:
            out[name] = max(0, ends[name] - prev)
            prev = max(prev, ends[name])
    return out


def compute_time(step, cfg, timing=TIMING, start=0, pending=()):
    """``(busy cycles, queue)`` of a COMPUTE starting at ``start`` (its first busy
    cycle) behind the configurations ``pending`` (the ``queue`` of the COMPUTE
    before it: per configuration the cycles it leaves the FIFO and the PEs take it).

    Each group's bias configuration goes into a FIFO of ``config_depth`` when its
    first window is fed (two cycles later it can leave), then into each PE's
    two-entry skid buffer (when the PE has taken the configuration two before
    it), and the PE takes it with the group's last beat, ``config_release`` (+
    log2 tn, + 1 at tm >= 8) cycles after the group's last window was fed; a group
    is fed only once the configuration ``config_depth`` before it has left the
    FIFO.  Short groups back up behind the pipeline's latency: the FIFO and the
    skid buffers hold ``config_depth + 2``."""
    fill = timing.fill(cfg.tn, cfg.tm, cfg.window, cfg.compact) + \
        timing.skip_fill * (step.fields["skip"] and not step.fields["dense"])
    lat = timing.config_release + cfg.tn.bit_length() - 1 + (cfg.tm >= 8)
    D = timing.config_depth
    queue = [(out - start, take - start) for out, take in pending]   # (leaves, taken)
    t = 0
    for c in step.extra["group_cycles"]:
        k = len(queue)
        if k >= D:
            t = max(t, queue[k - D][0] + 1)
        out = t + 2
        if k >= 1:
            out = max(out, queue[k - 1][0] + 1)
        if k >= 2:
            out = max(out, queue[k - 2][1] + 1)
        take = max(t + c - 1 + lat, out + 1, queue[k - 1][1] + 1 if k else 0)
        queue.append((out, take))
        t += c
    return fill + t, [(start + out, start + take) for out, take in queue[-(D + 2):]]


def compute_span(step, cfg, issue, prev_end, pending=(), timing=TIMING):
    """``(start, end, free_at, queue)`` of COMPUTE ``step`` issued at ``issue``, the
    COMPUTE before it ending at ``prev_end``: the unit starts it (``start``, its
    first busy cycle) and it feeds its first window ``feed`` cycles later (were the
    slice's front idle: :meth:`Timing.feed_cycles`), but not before the front
    has run empty of the one before (``drain`` cycles before that one's end); it
    ends :func:`compute_time` after that.  The unit takes the next COMPUTE
    (``free_at``) the cycle after this one's first window, once the one before
    it has ended (one older COMPUTE at a time).  ``queue``: its configurations',
    for the next (:func:`compute_time`)."""
    start = issue + 1 + timing.dispatch_cycles(cfg.compact)
    feed = timing.feed_cycles(step)
    drain = timing.drain(cfg.tn, cfg.tm, cfg.compact)
    begin = max(start, prev_end - drain - feed)
    d, queue = compute_time(step, cfg, timing, begin, pending)
    return start, begin + d, max(begin + feed + 1, prev_end), queue


def duration(step, cfg, memory=None, timing=TIMING):
    """Cycles ``step``'s unit is busy with it (expected cycles under memory stalls)."""
    mem = {"latency": 4, "interval": 1, "p_stall": 0.0, **(memory or {})}
    per_read = max(mem["interval"], 1) / (1.0 - mem["p_stall"])
    per_write = 1.0 / (1.0 - mem["p_stall"])
    if step.op == Op.LOAD:
        if step.fields["count"] == 0:     # nothing to request: idle the next cycle
            return 1
        words = step.words * per_read      # (a LUT word's entries written at once)
        if "row_words" in step.extra:      # sparse NBin rows: lengths looked up first
            return timing.load_fixed + timing.nbin_lookup + _sparse_rows(
                step.extra["row_words"], per_read, mem["latency"], timing)
        return timing.load_fixed + mem["latency"] + words
    if step.op == Op.COMPUTE:
        return compute_time(step, cfg, timing)[0]
    if step.op == Op.STORE:
        W = cfg.window
        lanes = cfg.words["values_per_word"]
        if step.fields["dense"]:
            # (a window's rows read, or past ``rows`` none, then a cycle; a cycle
            # between windows: the writer returns to idle before the next; the
            # first window's rows a cycle later, through the reader's register:
            # the next window's first row is read as the one before is handed on)
            n = step.windows
            return timing.store_fixed_dense + step.extra["rows_read"] + \
                (step.extra["rows_read"] > 0) + n * (1 + W / lanes * per_write) + n - 1
        return store_cycles(step.extra["nonzeros"], cfg, per_write, step.fields["rows"],
                            step.fields["windows"])
    return 0


def _sparse_rows(row_words, per_read, latency, timing):
    """The load unit's request generator on sparse NBin rows of ``row_words`` words
    each: a cycle per word, an empty row one cycle without a request; the LOAD
    ends ``latency`` after its last request or ``empty_tail`` after the
    generator's last row (empty rows trailing it), whichever is later."""
    t = last = 0
    for n in row_words:
        t += n * per_read if n else 1
        if n:
            last = t
    tail = t + timing.empty_tail
    return max(last + latency, tail) if last else tail


def store_cycles(nonzeros, cfg, per_write=1.0, rows=None, per_vector=None):
    """Busy cycles of a sparse STORE of windows of ``nonzeros``, register by
    register as the store unit
    runs (:class:`hdl.control.dma.StoreUnit`, memory always ready; under stalls
    each word written costs ``per_write`` instead of one cycle).  ``per_vector``:
    the STORE's ``windows`` (its vectors' windows one after the other, each
    vector's first ``rows`` rows holding outputs; default: one vector).

    * the reader reads an NBout row a cycle, through a register into the window
      register, a window's ``G`` rows (or, past the vector's ``rows``, none: the
      window is complete once the rows read before have landed), and hands the
      full window to the Encoder when its first stage is empty, reading the next
      window's first row (if it holds outputs) in the same cycle;
    * the Encoder (:class:`hdl.datapath.encoder.Encoder`) moves a window from its
      first stage to the second when that is empty or emits its last beat,
      counts its nonzeros in the window's first cycle there and from the next
      emits a beat of up to ``tn`` nonzeros whenever its output register is free;
    * the writer's gearbox (``lanes + tn`` values) takes a beat when it holds at
      most ``lanes`` values, is not flushing a window's partial last word, and
      (a window's first beat) has written the window before's bitmap; each cycle
      it writes a bitmap word (a window's, latched with its first beat) or else a
      word of values when it holds ``lanes`` (or the window's last, partial)."""
    G, tn = cfg.groups_per_window, cfg.tn
    lanes, bm_words = cfg.words["values_per_word"], cfg.words["bitmap"]
    n_windows = len(nonzeros)
    per_vector = per_vector or max(1, n_windows)
    rows = per_vector * G if rows is None else rows
    # reader
    reading, win_rd, grp, rd_pending, rd_grp, win_full = n_windows > 0, 0, 0, False, 0, False
    rq_valid, rq_grp = False, 0
    # Encoder: stage a, stage d (its count register ``rem``), output register
    a_valid, a_n = False, 0
    d_valid, d_n, d_known, d_final, rem, beat = False, 0, True, False, 0, 0
    o_valid, o_n, o_first, o_end = False, 0, False, False
    # writer
    cnt, closing, bm_left, w_in = 0, False, 0, 0
    cycles = words = 0
    while True:
        cycles += 1
        # -- this cycle's combinational decisions
        w_bm = bm_left != 0
        w_val = not w_bm and (cnt >= lanes or (closing and cnt != 0))
        o_ready = cnt <= lanes and not closing and not (w_bm and o_first)
        emit = d_valid and d_known and (not o_valid or o_ready)
        finish = emit and d_final
        d_take = not d_valid or finish
        a_take = not a_valid
        handed = win_full and a_take
        left_rows = reading and not win_full and grp < G
        in_range = win_rd % per_vector * G + grp < rows
        can_read = left_rows and in_range
        early = handed and win_rd + 1 < n_windows and (win_rd + 1) % per_vector * G < rows
        take = o_valid and o_ready
        took_first, took_end = take and o_first, take and o_end
        pos = (cnt - lanes if cnt >= lanes else 0) if w_val else cnt
        n_next = pos + (o_n if take else 0)
        done = w_in == n_windows and cnt == 0 and not closing and not w_bm and not reading
        words += w_bm or w_val
        if done:
            return cycles if per_write == 1 else cycles + (per_write - 1) * words
        # -- the registers' next values
        if (rq_valid and rq_grp == G - 1) or (left_rows and not in_range and not rd_pending):
            win_full = True
        rq_valid, rq_grp = rd_pending, rd_grp
        if can_read:
            rd_grp, grp = grp, grp + 1
        rd_pending = can_read or early
        if a_take:
            if handed:
                a_n = nonzeros[win_rd]
            nxt_a = handed
        else:
            nxt_a = False if d_take else a_valid
        if handed:
            win_full, grp, rd_grp, win_rd = False, int(early), 0, win_rd + 1
            reading = win_rd < n_windows
        if not d_known:
            rem, d_final = d_n, d_n <= tn
        if emit:
            o_valid, o_n, o_first, o_end = True, min(tn, rem), beat == 0, d_final
            beat = 0 if finish else beat + 1
            if not d_final:
                rem, d_final = rem - tn, rem <= 2 * tn
        elif o_ready:
            o_valid = False
        nxt_known = not (d_take and a_valid)
        if d_take:
            if a_valid:
                d_n = a_n
            d_valid = a_valid
        d_known, a_valid = nxt_known, nxt_a
        if took_end:
            closing, w_in = n_next != 0, w_in + 1
        elif n_next == 0:
            closing = False
        if took_first:
            bm_left = bm_words
        elif w_bm:
            bm_left -= 1
        cnt = n_next


def unit_ready(s, free_at, running, older):
    """The first cycle Step ``s`` may issue as far as the units go: its unit takes
    its next instruction (``free_at``), no other unit's instruction in flight
    (``running``: per unit ``(end, step)`` of its last; ``older``: the COMPUTE
    draining behind the newest) conflicts with it, and a fenced LOAD waits for
    the store unit.  The scoreboard's rule, for :func:`predict` and the
    compiler's schedule stage."""
    earliest = free_at[s.unit]
    for u, cur in [*running.items(), ("compute", older)]:
        if u != s.unit and cur is not None and _conflict(s, cur[1]):
            earliest = max(earliest, cur[0])
    if s.op == Op.LOAD and s.fields.get("fence"):
        earliest = max(earliest, free_at["store"])
    return earliest


def _conflict(a, b):
    """Whether Steps ``a`` and ``b`` conflict (:func:`golden.contract.isa.conflict`, the
    scoreboard's rule)."""
    return conflict(a.reads, a.writes, b.reads, b.writes)


class _IssueQueue:
    """The controller's two-entry instruction queue (:mod:`hdl.control.controller`), cycle by
    cycle: an IB read in flight lands in the queue a cycle later, a read is
    started while fewer than two are held or coming; the head issues when the
    queue holds it, a second one only when it holds two.  (Cycle 0 is the first
    cycle after the program fetch; the first instruction can issue at cycle 2.)"""

    def __init__(self, total):
        self.t, self.count, self.inflight, self.fetched, self.total = 0, 0, 0, 0, total
        self.pops = 0

    def _step(self):
        read = self.count + self.inflight - self.pops < 2 and self.fetched < self.total
        self.count += self.inflight - self.pops
        self.inflight, self.fetched = int(read), self.fetched + int(read)
        self.pops, self.t = 0, self.t + 1

    def head_ready(self, t):
        """The first cycle from ``t`` at which the queue holds the next instruction."""
        while self.t + 1 <= t:
            self._step()
        while self.count - self.pops < 1:
            self._step()
        return max(t, self.t)

    def second_ready(self):
        return self.count == 2 and self.pops == 1

    def pop(self):
        self.pops += 1


def predict(program, memory=None, timing=TIMING, steps=None):
    """Predicted ``cycles`` (as the RTL's counter counts them: from the end of the
    program fetch to ``END``), ``compute_cycles`` and the ``timeline``: per
    instruction its unit, issue and end cycle."""
    cfg = program.cfg
    steps = steps if steps is not None else work(program)
    free_at = {u: 0 for u in UNITS}          # the cycle the unit takes its next one
    done_at = {u: 0 for u in UNITS}          # the cycle the unit is idle again
    running = {u: None for u in UNITS}       # (end, step) of its last instruction
    older = None                             # (end, step) of the COMPUTE draining behind it
    releases = []                            # its configurations' queue (compute_time)
    last_issue, issued_now = -1, 0
    queue = _IssueQueue(len(program.words))
    timeline, compute = [], 0
    prev = None
    for s in steps:
        if s.op == Op.NOP:
            continue
        if s.op in (Op.SYNC, Op.END):
            earliest = max(0, *done_at.values())
        else:
            earliest = unit_ready(s, free_at, running, older)
        # Dual issue: in the same cycle as the previous one only if marked par,
        # to another unit, without a conflict; otherwise at least a cycle later.
        same_cycle_ok = (prev is not None and s.fields.get("par") and issued_now == 1
                         and prev.unit is not None and s.unit is not None
                         and prev.unit != s.unit and not _conflict(s, prev))
        if same_cycle_ok and earliest <= last_issue and queue.second_ready():
            issue = last_issue
            issued_now = 2
        else:
            issue = queue.head_ready(max(earliest, last_issue + 1))
            issued_now = 1
        queue.pop()
        last_issue = issue
        prev = s
        if s.op == Op.END:
            timeline.append({"index": s.index, "op": s.op.name, "unit": None, "issue": issue,
                             "end": issue})
            return {"cycles": int(round(issue)) + 1, "compute_cycles": int(round(compute)),
                    "timeline": timeline}
        if s.unit is None:
            timeline.append({"index": s.index, "op": s.op.name, "unit": None, "issue": issue,
                             "end": issue})
            continue
        if s.unit == "compute":
            prev_end = done_at["compute"]
            start, end, free_at["compute"], releases = compute_span(
                s, cfg, issue, prev_end, releases, timing)
            older = running["compute"] if prev_end > issue else None
            compute += end - max(start, prev_end)
        else:
            d = duration(s, cfg, memory, timing)
            end = issue + 1 + timing.dispatch_cycles(cfg.compact) + d
            free_at[s.unit] = end
        done_at[s.unit] = end
        running[s.unit] = (end, s)
        timeline.append({"index": s.index, "op": s.op.name, "unit": s.unit, "issue": issue,
                         "end": end})
    raise ValueError("the program has no END")
