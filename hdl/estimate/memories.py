"""The accelerator's memories, from its configuration, and what each costs a family.

:func:`inventory` lists every memory :class:`hdl.top.Accelerator` declares (its
block, depth, width and read ports) from the configuration alone, without
elaborating the design; :func:`elaborated` walks the elaborated design for the
same list (the tests hold the two together).  :func:`map_memory` prices one
memory for a family: Yosys' ``memory_libmap`` choice among soft logic,
distributed RAM and block RAM, by the cost figures of the libraries Yosys
ships (``share/lattice/*trellis*.txt``, ``share/lattice/brams_16kd.txt``,
``share/ice40/brams.txt``), with the LUTs and FFs around each mapping taken from
the characterization table when the shape was synthesized
(``python -m hdl.estimate.fit``).
"""

from collections import namedtuple
from math import ceil

from golden.contract.isa import WORD_BITS

__all__ = ["Mem", "inventory", "elaborated", "shape_key", "map_memory", "BLOCK_RAMS"]

#: One memory kind: ``count`` copies of ``depth`` words of ``width`` bits with
#: ``sync`` synchronous and ``comb`` asynchronous read ports (one write port).
Mem = namedtuple("Mem", "block name depth width sync comb count")


def _fifo(depth):
    # amaranth.lib.fifo.SyncFIFOBuffered(depth) keeps depth - 1 entries in its memory.
    return depth - 1


BUFFERS = "buffers (NBin, NIBin, SIB, bias, NBout) + counters"


def inventory(cfg):
    """Every memory of ``Accelerator(cfg)``, as :class:`Mem` records, from the
    hardware's own constants and layouts (nothing elaborated)."""
    from amaranth.utils import ceil_log2

    from hdl.control.compute import CONFIG_DEPTH
    from hdl.control.dma import LoadUnit, descriptor_layout
    from hdl.datapath.nsm import neurons_layout
    from hdl.datapath.pefu import pefu_latency
    from hdl.datapath.slice import bias_layout, tile_layout
    from hdl.datapath.wdm import table_depth
    tn, tm, W = cfg.tn, cfg.tm, cfg.window
    desc_width = descriptor_layout(tn).size
    mems = [
        Mem(BUFFERS, "nibin", cfg.window_rows, W, 1, 1, 1),
        Mem(BUFFERS, "sib", cfg.sib_rows, W, 2, 0, 1),
        Mem(BUFFERS, "nbin", cfg.window_rows, 16 * W, 1, 0, 1),
        Mem(BUFFERS, "bias", cfg.bias_rows, 32 * tn, 1, 0, 1),
        Mem(BUFFERS, "nbout", cfg.nbout_rows, 16 * tn, 2, 0, 1),
        Mem("controller", "ib", cfg.ib_depth, WORD_BITS, 1, 0, 1),
        Mem("compute unit", "nfifo", _fifo(8), neurons_layout(window=W).size, 1, 0, 1),
        Mem("compute unit", "tfifo", _fifo(CONFIG_DEPTH + 1),
            tile_layout(sb_depth=cfg.sb_words).size, 1, 0, 1),
        Mem("compute unit", "bfifo", _fifo(CONFIG_DEPTH), bias_layout(tn=tn).size, 1, 0, 1),
        Mem("load/store units", "desc", _fifo(LoadUnit.DEPTH), desc_width, 1, 0, 1),
        Mem("load/store units", "lens", _fifo(LoadUnit.LEN_DEPTH), 16, 1, 0, 1),
        Mem("SB + PE glue", "sb", cfg.sb_words, 64 * tm, 1, 0, tn),
        Mem("PEFU", "fifo", _fifo(pefu_latency(tm) + 2), 16,
            1, 0, tn),
    ]
    # A lane's tables in one memory, in rows of the memory word's entries (a LUT
    # LOAD writes a word's entries at once; hdl.datapath.wdm.WDM(lanes=)).
    entries = table_depth(cfg.widths)
    if entries:
        row = min(cfg.words["values_per_word"], entries)
        depth = cfg.lut_tables * entries // row
        mems.append(Mem("WDM", f"lut{ceil_log2(depth)}x{row}", depth, 16 * row, 1, 0, tn * tm))
    return mems


def elaborated(component):
    """``{(block, depth, width, sync, comb): count}`` of the memories in the
    elaborated ``component`` (an :class:`hdl.top.Accelerator`): the truth
    :func:`inventory` is held to."""
    from amaranth.hdl import Fragment, Shape
    from amaranth.hdl._mem import MemoryInstance

    from hdl.synth import block_of

    found = {}

    def walk(frag, path):
        if isinstance(frag, MemoryInstance):
            ports = frag._read_ports
            comb = sum(p._domain == "comb" for p in ports)
            # the memory counts in the module that declares it (as Yosys' -noflatten)
            key = (block_of(".".join(path[:-1])), frag._data.depth,
                   Shape.cast(frag._data.shape).width, len(ports) - comb, comb)
            found[key] = found.get(key, 0) + 1
        for sub, name, _ in frag.subfragments:
            walk(sub, path + (str(name),))
    walk(Fragment.get(component, None), ("top",))
    return found


def shape_key(mem):
    """The characterization table's key of a memory shape."""
    return f"{mem.depth}x{mem.width}:{mem.sync}s{mem.comb}c"


#: Block RAM per family: (Yosys cost, ((depth, width) modes)); iCE40's SB_RAM40_4K,
#: ECP5's DP16KD (as a simple dual-port PDPW16KD: 512 x 36 too).
BLOCK_RAMS = {
    "ice40": (64, ((256, 16), (512, 8), (1024, 4), (2048, 2))),
    "ecp5": (128, ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))),
}
#: Distributed RAM per family: (Yosys cost, depth, width) of one cell (ECP5's
#: TRELLIS_DPR16X4: one asynchronous read port); iCE40 has none.
DISTRIBUTED = {"ecp5": (4, 16, 4)}


def _choices(family, mem):
    """Yosys' candidate mappings of one copy of ``mem``: ``{kind: (cost, brams, cells)}``."""
    reads = mem.sync + mem.comb
    out = {"logic": (mem.depth * mem.width, 0, 0)}
    if family in DISTRIBUTED:
        cost, d, w = DISTRIBUTED[family]
        cells = ceil(mem.depth / d) * ceil(mem.width / w) * reads
        # deeper than one cell: a read multiplexer per bit, priced like logic
        mux = (ceil(mem.depth / d) - 1) * mem.width * reads
        out["distributed"] = (cost * cells + mux, 0, cells)
    if mem.comb == 0:
        cost, modes = BLOCK_RAMS[family]
        n = min(ceil(mem.depth / d) * ceil(mem.width / w) for d, w in modes) * mem.sync
        out["block"] = (cost * n, n, 0)
    return out


def map_memory(family, mem, table=None):
    """What ``mem`` (all its copies) costs ``family``: ``{"bram", "luts", "ffs",
    "mapping", "measured"}``.  The mapping is Yosys' cheapest candidate; the LUTs
    and FFs around it come from ``table`` (the characterization) when the shape
    is there, else from a rule fitted by eye to it."""
    choices = _choices(family, mem)
    kind = min(choices, key=lambda k: (choices[k][0], k != "block"))
    _, brams, cells = choices[kind]
    rec = (table or {}).get(shape_key(mem))
    if rec is not None:
        luts, ffs, measured = rec["luts"], rec["ffs"], True
    else:
        # (the rule, read off the characterized shapes: a block RAM's read port
        # takes a LUT and two registers a bit around it; soft logic a register a
        # bit and a read multiplexer of about 0.8 LUT per bit and port; distributed
        # RAM its cells, a multiplexer past 16 words and the port's register)
        w, reads = mem.width, mem.sync + mem.comb
        if kind == "block":
            luts, ffs = mem.sync * w + 8, (mem.sync + 1) * w + 12
        elif kind == "logic":
            luts, ffs = round(0.8 * reads * mem.depth * w), mem.depth * w + mem.sync * w
        else:
            luts = cells + (ceil(mem.depth / 16) - 1) * w * reads
            ffs = mem.sync * w
        measured = False
    return {"bram": brams * mem.count, "luts": luts * mem.count, "ffs": ffs * mem.count,
            "mapping": kind, "measured": measured}
