"""Event counts of a compiled program, per instruction and per layer: what the
energy model (:mod:`golden.energy`) prices.

From the performance model's trace of the program on the golden machine
(:func:`golden.perf.perfmodel.work`), each instruction's events, counted as
the architecture moves data (docs/architecture.md §3):

* ``offchip_read_words``, ``offchip_write_words``: memory words of
  ``mem_width`` bits (the program fetch and the LOADs; the STOREs) — the RTL's
  ``mem_reads`` and ``mem_writes`` counters count the same words;
* ``<buffer>_read_bits``, ``<buffer>_write_bits`` for each of :data:`BUFFERS`:
  a buffer is read or written a whole row at a time (NBin ``16 * window`` bits,
  NIBin and SIB ``window``, SB ``64 * tm`` per PE, bias ``32 * tn``, NBout
  ``16 * tn``, IB 128).  LOADs write their rows; a COMPUTE reads per fed NSM
  window its NBin row (and NIBin row in sparse mode), its SIB rows (masks and
  windows; none in dense mode), per group the bias row and each PE's SB words,
  and writes each group's NBout row (reading it first when pooling); a STORE
  reads its NBout rows; every instruction is read from the IB once.  The WDM's
  lookup table (``lut``) is 16-bit entries replicated per multiplier lane
  (:mod:`hdl.datapath.wdm`: the WDM decodes the ``tm`` codes the SSM picked):
  a LUT LOAD writes each entry into every lane's copy if it fits, every NSM
  beat of 4- or 8-bit slots reads one entry per lane of each PE (raw 16-bit
  weights need none);
* ``multiplies`` and ``adds``: every PE multiplies ``tm`` lanes per SSM step
  (``steps * tn * tm``; lanes without a pair multiply zeros), its adder tree
  and accumulator add ``tm`` per step, its PEFU adds the bias once per group;
* ``nsm_windows``/``nsm_positions``: NSM windows fed (each of ``window``
  positions); ``encoder_windows``/``encoder_positions``: windows the Encoder
  compresses (sparse STOREs);
* ``steps``: SSM steps (the RTL's ``steps`` counter).

These are architectural counts (each access the dataflow needs), not port
enables: the RTL keeps some read ports enabled when their data is not used
(NBout's, the WDM tables of lanes outside a beat), which a low-power
implementation would gate.

``neuron_read_words``, ``neuron_write_words`` and their ``_dense`` twins (not
energy events; for the Encoder's effect): the off-chip words that carry
neurons (NIBin and NBin LOADs; STOREs), and what they would be with every
neuron vector stored dense (int16 rows, no bitmaps).
"""

from golden.contract.isa import WORD_BITS, Op, Target, pooled, segments, vectors
from golden.perf.perfmodel import work
from golden.twins.wdm import table_depth

__all__ = ["BUFFERS", "EVENTS", "RTL_COUNTERS", "instruction_events", "events", "buffer_bytes",
           "lut_copies", "counter_mismatches"]

#: The on-chip buffers (energy components, in this order in reports).
BUFFERS = ("ib", "nbin", "nibin", "sib", "sb", "bias", "nbout", "lut")

#: Every event :func:`instruction_events` counts.
EVENTS = ("offchip_read_words", "offchip_write_words",
          *(f"{b}_{rw}_bits" for b in BUFFERS for rw in ("read", "write")),
          "multiplies", "adds", "nsm_windows", "nsm_positions", "encoder_windows",
          "encoder_positions", "steps")

_EXTRA = ("neuron_read_words", "neuron_read_words_dense", "neuron_write_words",
          "neuron_write_words_dense")

LUT_ENTRY_BITS = 16


def buffer_bytes(cfg):
    """Bytes of one array of each buffer (SB: one PE's; LUT: one copy of the
    largest table the configuration has), the size its access energy depends on."""
    lut_entries = max(16, table_depth(cfg.widths))
    return {"ib": cfg.ib_bytes, "nbin": cfg.nbin_bytes, "nibin": cfg.nibin_bytes,
            "sib": cfg.sib_bytes, "sb": cfg.sb_bytes, "bias": cfg.bias_bytes,
            "nbout": cfg.nbout_bytes, "lut": lut_entries * LUT_ENTRY_BITS // 8}


def lut_copies(cfg, entries):
    """Table entries a LUT LOAD of ``entries`` entries (written from address 0)
    writes per PE (:mod:`hdl.datapath.wdm`: one copy per lane, 256 entries deep
    with 8-bit slots, else 16; an entry past the depth is not stored)."""
    return min(entries, table_depth(cfg.widths)) * cfg.tm


def _zero():
    return {k: 0 for k in EVENTS + _EXTRA}


def instruction_events(step, cfg):
    """The events of one :class:`golden.perf.perfmodel.Step` (a dict over
    :data:`EVENTS` and the neuron-word figures)."""
    e = _zero()
    W, tn, tm = cfg.window, cfg.tn, cfg.tm
    f = step.fields
    e["ib_read_bits"] = WORD_BITS
    if step.op == Op.LOAD:
        t, n = step.extra["target"], f["count"] * segments(f)     # rows written
        e["offchip_read_words"] = step.words
        if t == Target.LUT:
            e["lut_write_bits"] = (lut_copies(cfg, n) * LUT_ENTRY_BITS
                                   * (cfg.tn if f.get("broadcast") else 1))
        else:
            buf, row = {Target.NIB: ("nibin", W), Target.SIB: ("sib", W),
                        Target.NBIN: ("nbin", 16 * W), Target.SB: ("sb", tn * 64 * tm),
                        Target.BIAS: ("bias", 32 * tn)}[t]
            e[f"{buf}_write_bits"] = n * row
        if t in (Target.NIB, Target.NBIN):
            e["neuron_read_words"] = step.words
            e["neuron_read_words_dense"] = n * cfg.words["nbin"] if t == Target.NBIN else 0
    elif step.op == Op.COMPUTE:
        dense, groups = f["dense"], step.groups      # (over all its vectors)
        fed = step.windows
        e["nbin_read_bits"] = fed * 16 * W
        e["nibin_read_bits"] = 0 if dense else fed * W
        e["sib_read_bits"] = 0 if dense else step.extra["sib_rows"] * W
        sb_words = step.extra["sb_words"]
        e["sb_read_bits"] = sb_words * tn * 64 * tm
        if f["slot"].bits < 16:
            e["lut_read_bits"] = step.extra["beats"] * tn * tm * LUT_ENTRY_BITS
        e["bias_read_bits"] = groups * 32 * tn
        e["nbout_write_bits"] = groups * 16 * tn
        combining = sum(pooled(f, v)[0] for v in range(vectors(f)))   # vectors read first
        e["nbout_read_bits"] = f["groups"] * combining * 16 * tn
        e["steps"] = step.steps
        e["multiplies"] = step.steps * tn * tm
        e["adds"] = step.steps * tn * tm + groups * tn
        e["nsm_windows"] = fed
        e["nsm_positions"] = fed * W
    elif step.op == Op.STORE:
        e["offchip_write_words"] = step.words
        e["nbout_read_bits"] = step.extra["rows_read"] * 16 * tn
        if not f["dense"]:
            e["encoder_windows"] = step.windows
            e["encoder_positions"] = step.windows * W
        e["neuron_write_words"] = step.words
        e["neuron_write_words_dense"] = step.windows * cfg.words["nbin"]
    return e


def _layer_of(comment, names):
    head = (comment or "").split(":", 1)[0].strip()
    return head if head in names else None


def events(program, steps=None):
    """Event counts of ``program``: ``{"instructions": [per instruction: index, op,
    layer, events], "layers": {name: events}, "total": events}``; the program
    fetch is counted as the pseudo-layer ``program`` (off-chip reads and IB
    writes of its words)."""
    cfg = program.cfg
    steps = steps if steps is not None else work(program)
    names = [layer["name"] for layer in program.layers]
    fetch = _zero()
    fetch["offchip_read_words"] = len(program.words) * cfg.words["instruction"]
    fetch["ib_write_bits"] = len(program.words) * WORD_BITS
    rows, layers = [], {"program": fetch}
    total = dict(fetch)
    for s in steps:
        e = instruction_events(s, cfg)
        comment = program.comments[s.index] if s.index < len(program.comments) else ""
        name = _layer_of(comment, names) or "program"
        rows.append({"index": s.index, "op": s.op.name, "layer": name, "events": e})
        acc = layers.setdefault(name, _zero())
        for k, v in e.items():
            acc[k] += v
            total[k] += v
    return {"instructions": rows, "layers": layers, "total": total}


#: The RTL's counters (:data:`hdl.top.COUNTERS`) that count an event: counter -> event.
RTL_COUNTERS = {"mem_reads": "offchip_read_words", "mem_writes": "offchip_write_words",
                "steps": "steps"}


def counter_mismatches(counts, counters):
    """Where the event ``counts`` differ from the RTL's ``counters`` (both summed
    over the same programs): a list of ``"counter: RTL x, model y"``."""
    return [f"{c}: RTL {counters[c]}, model {counts[e]}" for c, e in RTL_COUNTERS.items()
            if counters[c] != counts[e]]
