"""The accelerator as a golden functional machine: runs a compiled program on a
memory image, instruction by instruction, with the per-module golden functions
(NSM, SSM, WDM, PEFU, Encoder).  It is what the RTL must match bit for bit, and
it counts the ideal compute cycles (``sum ceil(pairs / tm)`` per NSM window) of
the run.
"""

import numpy as np

from golden.contract import sib
from golden.contract.fixed import ACTIVATIONS
from golden.contract.isa import Op, Target, decode, pooled, split_segments, vectors
from golden.contract.layout import (
    MemoryImage,
    join_words,
    pack_values,
    split_words,
    store_windows,
    unpack_values,
)
from golden.twins import encoder, wdm
from golden.twins.fc import group_outputs
from golden.twins.pefu import pool_max

__all__ = ["Machine", "run_program", "unordered_reads"]



class Machine:
    def __init__(self, cfg, image):
        self.cfg = cfg
        self.mem = MemoryImage(cfg.mem_width)
        self.mem.update(image)
        W = cfg.window
        self.nib = np.zeros((cfg.window_rows, W), dtype=bool)
        self.sib = np.zeros((cfg.sib_rows, W), dtype=bool)
        self.nbin = np.zeros((cfg.nbin_rows, W), dtype=np.int64)
        self.sb = [[0] * cfg.sb_words for _ in range(cfg.tn)]
        self.bias = np.zeros((cfg.bias_rows, cfg.tn), dtype=np.int64)
        self.nbout = np.zeros((cfg.nbout_rows, cfg.tn), dtype=np.int64)
        self.lut = np.zeros((2, cfg.tn, wdm.LUT_SIZE), dtype=np.int64)  # [half, PE]
        # (``sb_words``: SB words read per PE; ``sib_rows``: SIB rows read; for
        # the energy events of golden.perf.events)
        self.stats = {"ideal": 0, "beats": 0, "steps": 0, "instructions": 0, "sb_words": 0,
                      "sib_rows": 0}
        # (a list to receive each group a COMPUTE computes, as its windows' SSM
        # steps per beat: golden.twins.fc.group_outputs' ``windows``; for the
        # performance model)
        self.group_windows = None

    def _row(self, rows, half, r):
        return half * (rows // 2) + r

    def _bitmap(self, addr):
        cfg = self.cfg
        row = join_words(self.mem.read(addr, cfg.words["bitmap"]), cfg.mem_width)
        return np.array([(row >> p) & 1 for p in range(cfg.window)], dtype=bool)

    def load(self, f):
        cfg, W, mw = self.cfg, self.cfg.window, self.cfg.mem_width
        target = f["target"]
        addr = f["mem_addr"]
        if target in (Target.NIB, Target.SIB):
            buf, rows = (self.nib, cfg.window_rows) if target == Target.NIB else \
                (self.sib, cfg.sib_rows)
            for i in range(f["count"]):
                buf[self._row(rows, f["half"], f["row"] + i)] = self._bitmap(
                    addr + i * cfg.words["bitmap"])
        elif target == Target.NBIN:
            lanes = cfg.words["values_per_word"]
            for i in range(f["count"]):
                r = self._row(cfg.window_rows, f["half"], f["row"] + i)
                n = W if f["dense"] else int(self.nib[r].sum())
                words = self.mem.read(addr + i * cfg.words["nbin"], -(-n // lanes))
                vals = unpack_values(words, mw, len(words) * lanes)
                self.nbin[r] = 0
                self.nbin[r, :vals.size] = vals
        elif target == Target.SB:
            a = addr
            for i in range(f["count"]):
                for j in range(cfg.tn):
                    self.sb[j][self._row(cfg.sb_words, f["half"], f["row"] + i)] = join_words(
                        self.mem.read(a, cfg.words["sb"]), mw)
                    a += cfg.words["sb"]
        elif target == Target.BIAS:
            for i in range(f["count"]):
                v = join_words(self.mem.read(addr + i * cfg.words["bias"], cfg.words["bias"]), mw)
                vals = [(v >> (32 * j)) & 0xFFFFFFFF for j in range(cfg.tn)]
                self.bias[self._row(cfg.bias_rows, f["half"], f["row"] + i)] = [
                    x - (1 << 32) if x >> 31 else x for x in vals]
        elif target == Target.LUT:
            lanes = cfg.words["values_per_word"]
            words = self.mem.read(addr, -(-f["count"] // lanes))
            pes = slice(None) if f.get("broadcast") else f["pe"]
            self.lut[f["half"], pes, :f["count"]] = unpack_values(words, mw, f["count"])

    def compute(self, f):
        for v in range(vectors(f)):
            self._compute_vector(f, v)

    def _compute_vector(self, f, v):
        """COMPUTE ``f`` on its ``v``-th input vector (NBin rows from ``v * windows``,
        outputs from NBout row ``out_row + (v // tiles) * out_stride``, max-combined
        when ``pool`` or not the first of its ``tiles``)."""
        cfg, W = self.cfg, self.cfg.window
        slot = f["slot"].bits
        per_word = 64 * cfg.tm // slot
        n_win = f["windows"]
        rows_n = [self._row(cfg.window_rows, f["nbin_half"], v * n_win + w)
                  for w in range(n_win)]
        ones = np.ones(W, dtype=bool)
        nbm = np.concatenate([ones if f["dense"] else self.nib[r] for r in rows_n])
        nz = np.concatenate([self.nbin[r, :(W if f["dense"] else int(self.nib[r].sum()))]
                             for r in rows_n])
        base = f["sb_base"]
        # The SIB layout (golden.contract.sib): the groups' mask rows, then the fed windows' rows.
        # (without ``skip``: every window's row, no masks)
        segs = sib.segments(n_win, W) if f["skip"] else 0
        row = f["sib_row"] + f["groups"] * segs

        def read(r):
            return self.sib[self._row(cfg.sib_rows, f["sib_half"], r)]
        for g in range(f["groups"]):
            if f["dense"]:
                sbm, fed = np.ones(n_win * W, dtype=bool), None
            elif not f["skip"]:
                sbm, fed = np.concatenate([read(row + w) for w in range(n_win)]), None
                row += n_win
                self.stats["sib_rows"] += n_win
            else:
                masks = [read(f["sib_row"] + g * segs + s) for s in range(segs)]
                n_fed = len(sib.fed_windows(masks, n_win))
                sbm, fed = sib.unpack(masks, [read(row + k) for k in range(n_fed)], n_win)
                row += n_fed
                self.stats["sib_rows"] += segs + n_fed
            count = int(sbm.sum())
            n_words = -(-count // per_word)
            self.stats["sb_words"] += n_words
            comp = np.zeros((cfg.tn, count), dtype=np.int64)
            for j in range(cfg.tn):
                words = [self.sb[j][self._row(cfg.sb_words, f["sb_half"], base + k)]
                         for k in range(n_words)]
                comp[j] = wdm.decode_stream(words, self.lut[f["lut_half"], j], slot, cfg.tm,
                                             count)
            base += n_words
            bias = self.bias[self._row(cfg.bias_rows, f["bias_half"], f["bias_row"] + g)]
            out = group_outputs(nz, nbm, sbm, comp, bias, f["shift"],
                                ACTIVATIONS[f["activation"]], cfg.tm, W, stats=self.stats,
                                fed=fed, windows=self.group_windows)
            combine, block = pooled(f, v)
            r = self._row(cfg.nbout_rows, f["out_half"], f["out_row"] + block * f["out_stride"] + g)
            self.nbout[r] = pool_max(self.nbout[r], out) if combine else out

    def store(self, f):
        cfg, W, mw = self.cfg, self.cfg.window, self.cfg.mem_width
        for row, rows, val_addr, bm_addr in store_windows(f, cfg):
            vals = np.zeros(W, dtype=np.int64)
            for k in range(rows):
                vals[k * cfg.tn:(k + 1) * cfg.tn] = self.nbout[
                    self._row(cfg.nbout_rows, f["half"], row + k)]
            if f["dense"]:
                self.mem.write(val_addr, pack_values(vals, mw))
                continue
            nz, bm = encoder.encode(vals)
            bits = sum(1 << p for p in range(W) if bm[p])
            self.mem.write(bm_addr, split_words(bits, W, mw))
            self.mem.write(val_addr, pack_values(nz, mw))

    def execute(self, op, f):
        """Run one decoded instruction (NOP, SYNC and END change nothing)."""
        if op == Op.LOAD:
            for part in split_segments(f):
                self.load(part)
        elif op == Op.STORE:
            self.store(f)
        elif op == Op.COMPUTE:
            self.compute(f)

    def run(self, words):
        for word in words:
            op, f = decode(word)
            self.stats["instructions"] += 1
            self.execute(op, f)
            if op == Op.END:
                break
        return self.stats


def run_program(program):
    """Run a compiled program; returns ``(outputs int16 (vectors, N_out), machine)``."""
    m = Machine(program.cfg, program.image)
    m.run(program.words)
    return program.read_outputs(m.mem), m


class _Logged(MemoryImage):
    """Memory that notes which instruction (``at``) last wrote each word and which
    words each instruction read."""

    def __init__(self, width, image):
        super().__init__(width)
        self.update(image)
        self.at, self.writer, self.reads = None, {}, []

    def read(self, addr, n):
        self.reads.extend((self.at, addr + k) for k in range(n))
        return super().read(addr, n)

    def write(self, addr, words):
        super().write(addr, words)
        for k in range(len(words)):
            self.writer[addr + k] = self.at


def unordered_reads(program):
    """The LOADs of ``program`` that may read a word before the STORE that writes it
    is done, as ``(load index, store index, address)``: none, if the program is
    right.  The controller issues in program order, a unit takes an instruction
    only once its last is done, and a LOAD with ``fence`` waits for the store
    unit; so a LOAD reads what STORE ``s`` wrote safely if it is fenced or if
    another STORE lies between ``s`` and it (that one issued, ``s`` was done)."""
    m = Machine(program.cfg, program.image)
    m.mem = _Logged(program.cfg.mem_width, program.image)
    stores, bad = [], []
    for k, word in enumerate(program.words):
        op, f = decode(word)
        m.mem.at, m.mem.reads = k, []
        m.execute(op, f)
        if op == Op.STORE:
            stores.append(k)
        if op == Op.LOAD and not f["fence"]:
            for _, addr in m.mem.reads:
                s = m.mem.writer.get(addr)
                if s is not None and stores[-1] == s:
                    bad.append((k, s, addr))
        if op == Op.END:
            break
    return bad
