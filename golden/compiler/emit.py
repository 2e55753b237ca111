"""Compiler stage 3, **emit**: the instruction stream, then the ``par`` marks.

Per layer and input vector: load the vector (NIBin bitmaps, NBin nonzeros; a
layer after the first fences its loads behind the stores that wrote them; under
synapse reuse a pass's vectors side by side in one NBin half when they fit), then
per output block per chunk: load the chunk's weights (LUTs when a PE's region
changes, SIB rows, SB words, biases) unless the layer's weights stay resident
(one chunk for the whole layer: loaded once for every vector), COMPUTE, and
STORE the block.  NBin, weight and NBout halves alternate (ping-pong), so the
next loads overlap the compute and the store of the previous block.  Each STORE
is emitted after the next COMPUTE, so that in the in-order dispatch the compute
unit takes that COMPUTE while the previous one drains (:mod:`hdl.control.compute`)
and the store runs beside it.  With ``pool`` (max pooling on chip) the tiles of
one pool window's vectors combine in NBout (``COMPUTE.pool``) and one STORE
writes the pooled pixel.
"""

from golden.contract.fixed import activation_code
from golden.contract.isa import PAR_BIT, UNIT, Op, accesses, conflict, decode, encode, offsets
from golden.contract.layout import Gather

from .plan import CompileError
from .tiling import pass_chunks, table_loads

__all__ = ["Emitter", "emit_program", "mark_par"]


class Emitter:
    """The instruction stream being written, and the state that decides it: the
    next ping-pong half of each buffer, each PE's loaded table, deferred STOREs."""

    def __init__(self, cfg, dense):
        self.cfg, self.dense = cfg, dense
        self.words, self.comments = [], []
        self.halves = {"nbin": 0, "w": 0, "out": 0}
        # (layer, region) each PE's two tables hold; the half the last COMPUTE read
        self.luts = [[None] * cfg.tn for _ in range(2)]
        self.lut_half = 0
        self.deferred = []
        # STOREs emitted, and per output (a layout's id) the index of the last that
        # wrote it: an input LOAD needs no ``fence`` when every STORE that wrote its
        # input came before the latest STORE emitted (:meth:`fence`)
        self.stores, self.written = 0, {}
        self.last_store_half = None       # the NBout half the latest STORE emitted reads
        #: where the next layer's input LOADs start (the vectors its passes begin
        #: with, :func:`emit_program` sets them): the layer's last STORE is split there
        self.split = ()

    def emit(self, op, comment="", **fields):
        if op in ("END", Op.END):
            self.flush()
        self.words.append(encode(op, **fields))
        self.comments.append(comment)

    def next_half(self, buffer):
        half = self.halves[buffer]
        self.halves[buffer] ^= 1
        return half

    def defer_store(self, comment, dsts=(), **fields):
        self.deferred.append((comment, fields, dsts))

    def flush(self, n=None):
        """The deferred STOREs (the first ``n`` of them), now."""
        n = len(self.deferred) if n is None else n
        for _ in range(min(n, len(self.deferred))):
            comment, fields, dsts = self.deferred.pop(0)
            self.emit("STORE", comment, **fields)
            self.last_store_half = fields["half"]
            for d in dsts:
                self.written[id(d)] = self.stores
            self.stores += 1

    def fence(self, li, srcs):
        """Whether layer ``li``'s LOAD of inputs ``srcs`` waits for the store unit
        (``fence``), the deferred STOREs emitted first if it reads what one of
        them writes.  A layer's last STOREs stay deferred into the next layer,
        so its first input LOAD, when the STOREs it reads are out already, goes
        before them (and, fenced, waits only for those).  The controller issues
        in program order and the store unit takes a STORE only once the one
        before has written its last word, so once the latest STORE emitted has
        issued every earlier one is done: a LOAD whose inputs were all written
        by earlier STOREs reads them without waiting (the schedule stage keeps
        NBin LOADs behind the STOREs before them, :mod:`.schedule`).  Inputs no
        STORE here wrote (a convolution's patches, say) keep the fence, behind
        every STORE.  Of the deferred STOREs only as many go first as that takes:
        those it reads, then, while the LOAD would still need the fence, the next
        ones of the same NBout half (a pass's inputs in several LOADs, each behind
        the STOREs of its own vectors: :func:`pass_starts`)."""
        if li == 0:
            return False
        pending = {id(d) for _, _, dsts in self.deferred for d in dsts}

        def waits():
            return not all(self.written.get(id(s), self.stores) < self.stores - 1
                           for s in srcs)
        if any(id(s) not in pending and id(s) not in self.written for s in srcs):
            self.flush()
            return waits()
        ids = {id(s) for s in srcs}
        need = [k for k, (_, _, dsts) in enumerate(self.deferred)
                if any(id(d) in ids for d in dsts)]
        if need:
            self.flush(need[-1] + 1)
        # (one more, if it reads the same NBout half: it issues as soon as those
        # are written, so the LOAD needs no fence; a STORE of another half may
        # wait for a COMPUTE, and the LOAD behind it)
        while self.deferred and waits() and \
                self.deferred[0][1]["half"] == self.last_store_half:
            self.flush(1)
        return waits()

    def load_weights(self, li, plan, chunk, half):
        """The LOADs of ``chunk``'s weights into buffer ``half``; its lookup tables
        into the half :func:`~golden.compiler.tiling.table_half` picks, which the
        next COMPUTEs decode with."""
        if chunk.luts is not None:
            h, loads = table_loads(self.luts, [(li, r) for r, _, _ in chunk.luts],
                                   self.lut_half, self.cfg.lut_tables)
            self.lut_half = h
            for pes in loads:
                region, at, entries = chunk.luts[pes[0]]
                every = len(pes) > 1
                self.emit("LOAD", f"{plan.name}: LUT {h} of "
                                  f"{'every PE' if every else f'PE {pes[0]}'} (region {region})",
                          target="LUT", half=h, mem_addr=at, count=entries, pe=pes[0],
                          broadcast=int(every))
                for j in pes:
                    self.luts[h][j] = (li, region)
        groups = f"groups {chunk.g0}..{chunk.g1 - 1}"
        if not self.dense:
            self.emit("LOAD", f"{plan.name}: SIB {groups}", target="SIB", half=half,
                      mem_addr=chunk.sib, row=0, count=chunk.sib_rows)
        self.emit("LOAD", f"{plan.name}: SB {groups} ({chunk.words} words)", target="SB",
                  half=half, mem_addr=chunk.sb, row=0, count=chunk.words)
        self.emit("LOAD", f"{plan.name}: bias {groups}", target="BIAS", half=half,
                  mem_addr=chunk.bias, row=0, count=chunk.g1 - chunk.g0)

    def load_input(self, li, plan, src, what, hn=None, row=0, windows=None, srcs=None):
        """LOADs of an input (``src``: a :class:`~golden.contract.layout.VectorLayout`,
        a patch's :class:`~golden.contract.layout.Gather` or several vectors'
        gathered, ``srcs``; ``what`` names it in the comments, ``"vector 3"``) into
        NBin half ``hn`` (default: the next) from ``row``; its half.  ``windows``: the
        NBin rows ``src`` brings (default the layer's: one vector)."""
        if hn is None:
            hn = self.next_half("nbin")
        fence = int(self.fence(li, [src] if srcs is None else srcs))
        count, segments, bm_step, val_step = src.rows(self.cfg)
        windows = plan.windows if windows is None else windows
        if count * segments != windows:
            raise CompileError(f"layer {plan.name!r}: its input brings {count * segments} "
                               f"windows, the layer takes {windows}")
        seg = dict(segments=segments if segments > 1 else 0)
        if not self.dense:
            self.emit("LOAD", f"{plan.name}: input bitmaps, {what}", target="NIB",
                      half=hn, mem_addr=src.bm_addr, row=row, count=count, fence=fence,
                      seg_step=bm_step if segments > 1 else 0, **seg)
        self.emit("LOAD", f"{plan.name}: input neurons, {what}", target="NBIN",
                  half=hn, dense=int(self.dense), mem_addr=src.val_addr, row=row,
                  count=count, fence=fence, seg_step=val_step if segments > 1 else 0, **seg)
        return hn

    def load_inputs(self, li, plan, srcs, vs, parts=1):
        """LOADs of the inputs ``srcs`` of vectors ``vs`` side by side into the next
        NBin half (vector ``i`` from row ``i * plan.windows``); its half.  Inputs of
        one segment each at a constant stride in memory (a batch's vectors, placed
        one after the other) come in one LOAD pair, a segment per vector: a LOAD's
        fixed cycles and memory latency once, not once per vector.  ``parts``: in
        that many runs of consecutive vectors (:func:`part_starts`), a LOAD pair
        each, each behind the STOREs of its own vectors only (:meth:`fence`)."""
        hn = self.next_half("nbin")
        cuts = [*part_starts(len(srcs), parts), len(srcs)]
        for a, b in zip(cuts, cuts[1:]):
            self._load_run(li, plan, srcs[a:b], vs[a:b], hn, a)
        return hn

    def _load_run(self, li, plan, srcs, vs, hn, at):
        """:meth:`load_inputs` of one run of vectors, the first the half's ``at``-th."""
        rows = [src.rows(self.cfg) for src in srcs]
        steps = {(b.bm_addr - a.bm_addr, b.val_addr - a.val_addr)
                 for a, b in zip(srcs, srcs[1:])}
        if len(srcs) > 1 and len(steps) == 1 and all(r[1] == 1 for r in rows):
            (bm_step, val_step), = steps
            field = offsets(Op.LOAD)
            if (val_step > 0 and (bm_step > 0 or self.dense)
                    and len(srcs) < 1 << field["segments"][1]
                    and max(bm_step, val_step) < 1 << field["seg_step"][1]):
                gather = Gather(len(srcs) * plan.n_in, srcs[0].bm_addr, srcs[0].val_addr,
                                self.dense, rows[0][0], len(srcs), bm_step, val_step)
                self.load_input(li, plan, gather, f"vectors {vs[0]}..{vs[-1]}", hn,
                                at * plan.windows, windows=len(srcs) * plan.windows,
                                srcs=srcs)
                return
        for i, (src, v) in enumerate(zip(srcs, vs), at):
            self.load_input(li, plan, src, f"vector {v}", hn, i * plan.windows)

    def compute(self, plan, chunk, what, hn, hw, ho, out_row, pool=0, vectors=1,
                out_stride=0, tiles=1):
        """A COMPUTE of ``chunk`` on ``vectors`` vectors (``what`` names them) from row 0
        of NBin half ``hn``, their outputs ``out_stride`` NBout rows apart (every
        ``tiles`` vectors one pool window's, sharing their rows).  The deferred
        STOREs follow it (the compute unit takes it while the one before
        drains, and the stores run beside it)."""
        self.emit("COMPUTE", f"{plan.name}: {what}, groups {chunk.g0}..{chunk.g1 - 1}",
                  nbin_half=hn, sib_half=hw, sb_half=hw, bias_half=hw, out_half=ho,
                  dense=int(self.dense), slot=plan.slot, shift=plan.shift,
                  activation=activation_code(plan.activation), windows=plan.windows,
                  groups=chunk.g1 - chunk.g0, sib_row=0, sb_base=0, bias_row=0,
                  out_row=out_row, pool=pool, skip=int(plan.skip),
                  vectors=vectors if vectors > 1 else 0,
                  out_stride=out_stride if vectors > 1 else 0, tiles=tiles if tiles > 1 else 0,
                  lut_half=self.lut_half)
        self.flush()

    def store(self, plan, blk, dst, v, ho, row=0):
        """Defer the STORE of vector ``v``'s output block ``blk`` (NBout half ``ho``
        from ``row``)."""
        self.store_vectors(plan, blk, [dst], [v], ho, row)

    def store_vectors(self, plan, blk, dsts, vs, ho, row=0, split=()):
        """Defer the STOREs of vectors ``vs``' output block ``blk``, to ``dsts``, from
        NBout half ``ho``: vector ``i``'s block from row ``row + i * windows * G`` (the
        block's windows, one after the other).  Destinations at one stride in
        memory (a batch's vectors, placed one after the other) take one STORE
        (``vectors``, ``vec_step``: the store unit's fixed cycles and its pipeline's
        fill once, not once per vector); else a STORE per vector.  ``split``: the
        vectors where another STORE starts (the next layer's passes: each one's
        input LOAD then waits only for the STOREs of its vectors, :meth:`fence`)."""
        cfg, G = self.cfg, self.cfg.groups_per_window
        w0, w1 = blk[0] // G, -(-blk[1] // G)
        rows = min(blk[1], -(-plan.n_out // cfg.tn)) - blk[0]
        steps = {(b.val_addr - a.val_addr, 0 if self.dense else b.bm_addr - a.bm_addr)
                 for a, b in zip(dsts, dsts[1:])}
        field = offsets(Op.STORE)
        one = len(dsts) > 1 and len(steps) == 1 and len(dsts) < 1 << field["vectors"][1]
        if one:
            (step, bm_step), = steps     # (values and bitmaps a step apart; dense: none)
            one = 0 < step < 1 << field["vec_step"][1] and bm_step == (0 if self.dense else step)
        if one:
            cuts = [0, *sorted({sum(v < b for v in vs) for b in split} - {0, len(vs)}),
                    len(vs)]
            groups = [(dsts[a:b], vs[a:b]) for a, b in zip(cuts, cuts[1:])]
        else:
            groups = [([d], [v]) for d, v in zip(dsts, vs)]
        at = 0
        for ds, us in groups:
            what = f"vector {us[0]}" if len(us) == 1 else f"vectors {us[0]}..{us[-1]}"
            self.defer_store(f"{plan.name}: {what}, output windows {w0}..{w1 - 1}", ds,
                             half=ho, dense=int(self.dense),
                             mem_addr=ds[0].val_addr + w0 * cfg.words["nbin"],
                             bm_addr=0 if self.dense else ds[0].bm_addr
                             + w0 * cfg.words["bitmap"],
                             rows=rows, windows=w1 - w0, row=row + at * (w1 - w0) * G,
                             vectors=len(ds) if len(ds) > 1 else 0,
                             vec_step=ds[1].val_addr - ds[0].val_addr if len(ds) > 1 else 0)
            at += len(ds)

    def layer_synapse(self, li, plan, layout, io, tiling, pool=1):
        """Synapse reuse: per pass of ``tiling.per_pass`` vectors, each chunk's weights
        once (a layer of one chunk: once for every pass; every other pass visits the
        chunks backwards, :func:`~golden.compiler.tiling.pass_chunks`, and starts
        with the chunk still in SB), the pass's output blocks
        side by side in one NBout half.  With ``tiling.inputs_resident`` the pass's
        inputs side by side in one NBin half, loaded once, and one COMPUTE per
        chunk runs them all; else each vector's input again per chunk and a
        COMPUTE per vector.  With ``pool`` every ``pool`` consecutive vectors are one
        pool window's tiles: they share an output block (max-combined) and one
        STORE."""
        G = self.cfg.groups_per_window
        resident = tiling.inputs_resident
        once = layout.n_chunks == 1
        held = None                    # the chunk in SB, and its half
        if once:
            (chunk,) = layout.chunks[layout.blocks[0]]
            held = (chunk, self.next_half("w"))
            self.load_weights(li, plan, chunk, held[1])
        for p, p0 in enumerate(range(0, len(io), tiling.per_pass)):
            batch = range(p0, min(p0 + tiling.per_pass, len(io)))
            # (every other pass backwards: it starts with the chunk still held)
            blocks = pass_chunks(layout.blocks, p)
            if resident:
                first = pass_chunks(layout.chunks[blocks[0]], p)[0]
                if held is None or held[0] is not first:
                    # The pass's first weights before its inputs: a layer's first
                    # input LOADs wait (``fence``) for the layer before's STOREs, and
                    # the load unit takes its LOADs in order, so the weights load
                    # while the stores run.
                    held = (first, self.next_half("w"))
                    self.load_weights(li, plan, first, held[1])
                hn = self.load_inputs(li, plan, [io[v][0] for v in batch], batch,
                                      tiling.input_parts)
            for blk in blocks:
                ho = self.next_half("out")
                # (the pass's output blocks one after the other: one STORE writes them)
                block_rows = (-(-blk[1] // G) - blk[0] // G) * G
                for chunk in pass_chunks(layout.chunks[blk], p):
                    if held is None or held[0] is not chunk:
                        held = (chunk, self.next_half("w"))
                        self.load_weights(li, plan, chunk, held[1])
                    hw = held[1]
                    if resident:
                        self.compute(plan, chunk, f"vectors {batch[0]}..{batch[-1]}", hn, hw,
                                     ho, chunk.g0 - blk[0], vectors=len(batch),
                                     out_stride=block_rows, tiles=pool)
                        continue
                    for i, v in enumerate(batch):
                        hn = self.load_input(li, plan, io[v][0], f"vector {v}")
                        self.compute(plan, chunk, f"vector {v}", hn, hw, ho,
                                     i // pool * block_rows + chunk.g0 - blk[0],
                                     pool=int(i % pool != 0))
                last = [v for i, v in enumerate(batch) if i % pool == pool - 1]  # (tiles)
                final = blk == blocks[-1] and batch[-1] == len(io) - 1
                self.store_vectors(plan, blk, [io[v][1] for v in last], last, ho,
                                   split=self.split if final else ())
        # (the last STOREs stay deferred: the next layer's first COMPUTE, or its
        # input LOAD that reads them, or END emits them, :meth:`fence`)

    def layer(self, li, plan, layout, io, pool, tiling=None):
        """Emit layer ``li`` for every input vector ``v``, from ``io[v][0]`` to
        ``io[v][1]`` (with pooling the vectors of a pool window share their
        ``io[v][1]``); return what was decided."""
        info = {"name": plan.name, "n_in": plan.n_in, "n_out": plan.n_out,
                "windows": plan.windows, "groups": plan.groups, "slot": plan.slot.bits,
                "raw_reason": plan.why_raw, "merged_regions": plan.merged,
                "chunks": layout.n_chunks,
                "dead_groups": plan.dead_groups, "unused_groups": plan.unused_groups,
                "weights_resident": layout.n_chunks == 1, "shift": plan.shift,
                "activation": plan.activation, "pool": pool if pool > 1 else 1,
                "reuse": tiling.as_dict() if tiling else None}
        if tiling is not None and tiling.strategy == "synapse" and (
                layout.n_chunks > 1 or tiling.inputs_resident):
            self.layer_synapse(li, plan, layout, io, tiling, pool)
            return info
        pooled = pool > 1
        resident = layout.n_chunks == 1
        if resident:
            (chunk,) = layout.chunks[layout.blocks[0]]
            resident_half = self.next_half("w")
            self.load_weights(li, plan, chunk, resident_half)
        for v, (src, dst) in enumerate(io):
            hn = self.load_input(li, plan, src, f"vector {v}")
            first = not pooled or v % pool == 0         # a pool window's first tile writes
            last = not pooled or v % pool == pool - 1   # and its last one is stored
            for blk in layout.blocks:
                if first:
                    ho = self.next_half("out")
                for chunk in layout.chunks[blk]:
                    hw = resident_half if resident else self.next_half("w")
                    if not resident:
                        self.load_weights(li, plan, chunk, hw)
                    self.compute(plan, chunk, f"vector {v}", hn, hw, ho, chunk.g0 - blk[0],
                                 pool=int(not first))
                if last:
                    self.store(plan, blk, dst, v, ho)
        return info        # (the last STOREs deferred into the next layer: :meth:`fence`)


def emit_program(plans, placement, cfg, dense, pool, tilings=None):
    """``(words, comments, layer_info)`` of the whole program, ``par`` marked."""
    em = Emitter(cfg, dense)
    info = []
    for li, (plan, layout) in enumerate(zip(plans, placement.layers)):
        nxt = tilings[li + 1] if tilings and li + 1 < len(plans) else None
        em.split = pass_starts(nxt, len(placement.acts)) if li + 1 < len(plans) else ()
        info.append(em.layer(li, plan, layout, [(row[li], row[li + 1])
                                                for row in placement.acts],
                             pool if li == len(plans) - 1 else 1,
                             tilings[li] if tilings else None))
    em.emit("END", "done")
    return mark_par(em.words), em.comments, info


def pass_starts(tiling, vectors):
    """The vectors (of ``vectors``) where a layer of ``tiling`` starts an input LOAD
    of several: under synapse reuse with resident inputs each pass's first and
    the first of each of its ``input_parts`` runs (:func:`part_starts`); else (a
    LOAD per vector) just the second."""
    if tiling is not None and tiling.strategy == "synapse" and tiling.inputs_resident:
        P = tiling.per_pass
        return tuple(p0 + k for p0 in range(0, vectors, P)
                     for k in part_starts(min(P, vectors - p0), tiling.input_parts)
                     if p0 + k > 0)
    return (1,)


def part_starts(n, parts):
    """Where each of ``parts`` runs of ``n`` consecutive vectors starts (as even as
    they come, the longer first; never more runs than vectors)."""
    parts = max(1, min(parts, n))
    q, r = divmod(n, parts)
    return [k * q + min(k, r) for k in range(parts)]


def mark_par(words):
    """Set ``par`` on every instruction independent of the previous one: another
    unit, and no conflict by the scoreboard's rule (:func:`golden.contract.isa.accesses`)."""
    out = list(words)
    for k in range(1, len(out)):
        op_a, fa = decode(out[k - 1])
        op_b, fb = decode(out[k])
        if op_a not in UNIT or op_b not in UNIT or UNIT[op_a] == UNIT[op_b]:
            continue
        if conflict(*accesses(op_a, fa), *accesses(op_b, fb)):
            continue
        out[k] |= PAR_BIT
    return out

