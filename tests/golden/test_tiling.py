"""Loop tiling and the reuse strategies (golden.compiler.tiling): the thesis' worked
example, the exact word counts against the RTL's memory counters, and the choice."""

import dataclasses

import numpy as np
import pytest

from golden.compiler import compile_model, reuse_report, small_config
from golden.compiler.tiling import (
    lut_words,
    pass_words,
    reuse_traffic,
    table_half,
    table_loads,
    vector_words,
)
from golden.contract.isa import Op, Target, decode, segments
from golden.data.synthetic import random_inputs, random_model
from golden.perf import perfmodel
from golden.twins.infer import infer
from golden.twins.machine import run_program, unordered_reads
from tb.sim.accel_sim import MemoryModel, run_accelerator

MB = 1 << 20


def test_thesis_vgg16_conv4_2_example():
    # Thesis §4.3.3: conv4_2, input 30 x 30 x 512 (padded) at 40.52 % density,
    # weights 3 x 3 x 512 x 512 at 34.20 %, output 28 x 28 x 512; output channels
    # in 4 segments of 128, output rows in 28 of 1, input channels in 16 of 32;
    # int16 values (2 bytes).  Its figures: 68.59, 47.85 and 30.03 MB.
    seg_in = 30 * 3 * 32 * 0.4052
    seg_syn = 3 * 3 * 32 * 128 * 0.3420
    seg_out = 28 * 1 * 128
    t = reuse_traffic(seg_in, seg_syn, seg_out, n_in=16, n_out=4, n_pass=28)
    got = {k: round(2 * v / MB, 2) for k, v in t.items()}
    assert got == {"input": 68.59, "output": 47.85, "synapse": 30.03}
    assert min(t, key=t.get) == "synapse"


def test_reuse_traffic_counts_by_hand():
    # One input segment: no partial sums.  2 output segments of 5, 3 passes,
    # inputs of 7, weights of 11: input-reuse 3 * (7 + 2 * 11 + 2 * 5) = 117;
    # output-reuse 2 * 3 * (5 + 7 + 11) = 138; synapse-reuse 2 * (11 + 3 * 7 + 3 * 5) = 94.
    assert reuse_traffic(7, 11, 5, n_in=1, n_out=2, n_pass=3) == {
        "input": 117, "output": 138, "synapse": 94}


def test_vector_words_and_lut_words_by_hand():
    cfg = small_config(4, 4)               # windows of 64, 64-bit words: 4 values a word
    v = np.zeros(100, np.int16)
    v[[0, 1, 2, 3, 4, 70]] = 1             # 5 nonzeros in window 0, 1 in window 1
    assert vector_words(v, cfg, dense=False) == (1 + 2) + (1 + 1)
    assert vector_words(v, cfg, dense=True) == 2 * 16
    # PE 0 changes region at every chunk, PE 1 never: 3 + 3 + 3 words for PE 0, 2 for PE 1
    seq = [[(0, 3), (5, 2)], [(1, 3), (5, 2)], [(0, 3), (5, 2)]]
    assert lut_words(seq) == 9 + 2
    assert lut_words([None, None]) == 0


def test_pass_words_by_hand():
    # Chunks of 5, 3 and 2 words, three passes: forwards 5 + 3 + 2, backwards
    # without the 2 still held (3 + 5), forwards without the 5 (3 + 2).
    assert pass_words([(5, None), (3, None), (2, None)], 3) == 10 + 8 + 5
    # with tables (one PE): A, B, then backwards without B: A again, held in its
    # half of the two, so its table is not loaded again (4 + 2 table words)
    A, B = [(0, 4)], [(1, 2)]
    assert pass_words([(5, A), (3, B)], 2) == 5 + 3 + 5 + 4 + 2
    # one table a PE: A's table is gone by then and loaded again
    assert pass_words([(5, A), (3, B)], 2, n_tables=1) == 5 + 3 + 5 + 4 + 2 + 4


def test_two_tables_per_pe_by_hand():
    # Chunks needing tables A, B, A, B (PE 0's of 3 words, PE 1's of 2): A goes
    # into half 1 (a tie; not the half before, 0), B into half 0, then each is held.
    A, B = [(0, 3), (1, 2)], [(2, 3), (3, 2)]
    assert lut_words([A, B, A, B]) == 2 * (3 + 2)
    # The half needing the fewest loads wins over the other one than before.
    held = [[0, 0], [0, 1]]
    assert table_half(held, [0, 1], 1) == (1, [])
    assert table_half(held, [0, 2], 1) == (0, [1])      # a tie: not half 1
    assert table_half(held, [0, 2], 0) == (1, [1])
    assert table_half([[None] * 2] * 2, [5, 5], 0) == (1, [0, 1])
    # A chunk without tables (16-bit weights) changes nothing.
    assert lut_words([A, None, A]) == 5
    # Every PE on one table: one LOAD for them all (its words once).
    same = [(7, 3), (7, 3)]
    assert lut_words([same, same]) == 3
    assert table_loads([[None] * 2] * 2, [7, 7], 0) == (1, [[0, 1]])
    assert table_loads([[7, None], [None] * 2], [7, 7], 1) == (0, [[0, 1]])  # (a tie)
    assert table_loads([[7, 7], [None] * 2], [7, 7], 0) == (0, [])
    assert table_loads([[None] * 2] * 2, [7, 8], 0) == (1, [[0], [1]])


def test_a_broadcast_table_load_writes_every_pe():
    from golden.contract.isa import encode
    from golden.contract.layout import pack_values
    from golden.twins.machine import Machine
    cfg = small_config(4, 4)
    table = list(range(-8, 8))
    words = pack_values(table, cfg.mem_width)
    mem = {100 + k: w for k, w in enumerate(words)}
    m = Machine(cfg, mem)
    m.execute(*decode(encode("LOAD", target="LUT", half=1, mem_addr=100, count=16, pe=2,
                             broadcast=1)))
    assert (m.lut[1, :, :16] == table).all() and not m.lut[0].any()
    m.execute(*decode(encode("LOAD", target="LUT", half=0, mem_addr=100, count=16, pe=2)))
    assert (m.lut[0, 2, :16] == table).all() and not m.lut[0, [0, 1, 3]].any()


def _mem_traffic(program, counters):
    fetch = len(program.words) * program.cfg.words["instruction"]
    return counters["mem_reads"] - fetch + counters["mem_writes"]


def _on_rtl(program, model, x, replay):
    """Run ``program`` on the golden machine (its outputs the model's) and on the RTL
    (memory latency 3): the same outputs, the words the compiler chose moved,
    the performance model's cycles; the RTL's counters."""
    expected, _ = run_program(program)
    np.testing.assert_array_equal(expected, infer(model, x), err_msg=replay)
    got, counters, _ = run_accelerator(program, MemoryModel(latency=3))
    np.testing.assert_array_equal(got, expected, err_msg=replay)
    reuse = [layer["reuse"] for layer in program.layers]
    assert _mem_traffic(program, counters) == sum(r["traffic_words"][r["strategy"]]
                                                  for r in reuse), replay
    p = perfmodel.predict(program, {"latency": 3})
    assert (p["cycles"], p["compute_cycles"]) == (counters["cycles"],
                                                  counters["compute_cycles"]), replay
    return counters


@pytest.mark.parametrize("seed, tn, tm, vectors, overrides, dense", [
    (1, 4, 4, 4, dict(sb_bytes=512, nbout_bytes=2048), False),
    pytest.param(2, 4, 4, 5, dict(sb_bytes=2048, nbout_bytes=1024), True,
                 marks=pytest.mark.slow),     # (dense under synapse reuse: also make demo's)
    (3, 2, 4, 3, dict(sb_bytes=1024, window_k=8, lut_tables=1), False),   # one table a PE
])
def test_words_moved_on_the_rtl_equal_the_compilers_figure(seed, tn, tm, vectors, overrides,
                                                          dense):
    rng = np.random.default_rng(seed)
    model = random_model(rng, [150, 90, 10], 0.5, 4, region=(8, 200) if seed % 2 else None)
    x = random_inputs(rng, 150, vectors=vectors, density=0.5)
    program = compile_model(model, small_config(tn, tm, **overrides), x, dense=dense)
    reuse = [layer["reuse"] for layer in program.layers]
    replay = f"replay: seed={seed} tn={tn} tm={tm} vectors={vectors} {overrides} dense={dense}"
    assert any(r["strategy"] == "synapse" and r["per_pass"] > 1 for r in reuse), replay
    for r in reuse:     # the choice is the least traffic, never below the minimum
        assert r["traffic_words"][r["strategy"]] == min(r["traffic_words"].values()), replay
        assert r["minimum_words"] <= r["traffic_words"][r["strategy"]], replay
    tables = {f["half"] for op, f in map(decode, program.words)
              if op == Op.LOAD and f["target"] == Target.LUT}
    assert tables == ({0} if overrides.get("lut_tables") == 1 else {0, 1} if seed % 2 else set())
    _on_rtl(program, model, x, replay)


def test_synapse_reuse_loads_a_chunk_once_per_pass():
    # fc1 of 90 outputs in several chunks (a small SB), 8 vectors: its SB words are
    # loaded once per pass of per_pass vectors, not once per vector; every other
    # pass runs the chunks backwards and starts with the one still in SB, so a
    # chunk at a pass boundary is loaded once for both passes.
    rng = np.random.default_rng(7)
    model = random_model(rng, [150, 90, 10], 0.5, 4)
    x = random_inputs(rng, 150, vectors=8, density=0.5)
    cfg = small_config(4, 4, sb_bytes=512, nbout_bytes=2048)
    program = compile_model(model, cfg, x)
    fc1 = program.layers[0]["reuse"]
    assert fc1["strategy"] == "synapse" and program.layers[0]["chunks"] > 1
    passes = -(-8 // fc1["per_pass"])
    sb = [f for op, f in map(decode, program.words)
          if op == Op.LOAD and f["target"] == Target.SB]
    fc1_sb = [c.split(" (")[0] for c in program.comments if c.startswith("fc1: SB")]
    fc1_runs = [c.split(", groups ")[1] for c in program.comments
                if c.startswith("fc1: vectors") and ", groups " in c]
    n = program.layers[0]["chunks"]
    assert passes > 1 and len(fc1_sb) == passes * n - (passes - 1) and len(sb) > len(fc1_sb)
    assert len(fc1_runs) == passes * n
    forward = fc1_runs[:n]
    for p in range(passes):        # pass p's COMPUTEs: the chunks forwards, then backwards
        assert fc1_runs[p * n:(p + 1) * n] == (forward if p % 2 == 0 else forward[::-1])
    # the SB loads: every chunk of the first pass, then each pass's but its first
    assert [c.split("SB groups ")[1] for c in fc1_sb] == forward + [
        g for p in range(1, passes) for g in (forward if p % 2 == 0 else forward[::-1])[1:]]
    # input-reuse would load them for every vector
    assert fc1["traffic_words"]["input"] > fc1["traffic_words"]["synapse"]
    # fc2 fits one chunk: resident, it moves the minimum (its weights once)
    fc2 = program.layers[1]["reuse"]
    assert program.layers[1]["chunks"] == 1
    assert fc2["traffic_words"]["synapse"] == fc2["minimum_words"] < fc2["traffic_words"]["input"]


def test_resident_inputs_one_compute_per_chunk_and_pass():
    # With an NBin half that holds a pass's inputs side by side, each vector's input
    # is loaded once (at NBin row v * windows of one half) and each chunk runs the
    # whole pass in one COMPUTE (vectors, out_stride = the block's rows).
    rng = np.random.default_rng(11)
    model = random_model(rng, [150, 90, 10], 0.5, 4)
    x = random_inputs(rng, 150, vectors=6, density=0.5)
    cfg = small_config(4, 4, sb_bytes=512, nbout_bytes=2048, nbin_bytes=8192, nibin_bytes=512)
    program = compile_model(model, cfg, x)
    fc1 = program.layers[0]
    assert fc1["reuse"]["inputs_resident"] and fc1["chunks"] > 1, fc1["reuse"]
    P, windows = fc1["reuse"]["per_pass"], fc1["windows"]
    passes = -(-6 // P)
    ops = [(decode(w), c) for w, c in zip(program.words, program.comments)
           if c.startswith("fc1:")]
    # each pass's inputs in one LOAD pair, a segment per vector (vector i of the
    # pass from NBin row i * windows: the segments' rows follow one another), each
    # segment from that vector's place in memory
    for target, addr in ((Target.NIB, "bm_addr"), (Target.NBIN, "val_addr")):
        loads = [f for (op, f), _ in ops if op == Op.LOAD and f["target"] == target]
        assert len(loads) == passes, (target, loads)
        for k, f in enumerate(loads):
            vs = range(k * P, min(6, (k + 1) * P))
            assert f["row"] == 0 and f["count"] == windows and segments(f) == len(vs)
            assert [f["mem_addr"] + i * f["seg_step"] for i in range(len(vs))] == \
                [getattr(program.inputs[v], addr) for v in vs]
    computes = [f for (op, f), _ in ops if op == Op.COMPUTE]
    assert len(computes) == passes * fc1["chunks"]
    rows = fc1["reuse"]["block_windows"] * cfg.groups_per_window
    assert all(f["vectors"] in (0, P, 6 - P * (passes - 1)) and f["out_stride"] in (0, rows)
               for f in computes)
    # One COMPUTE of V vectors is the same as V COMPUTEs of one (the golden machine),
    # and the whole program is the golden inference.
    expected, _ = run_program(program)
    np.testing.assert_array_equal(expected, infer(model, x))


def test_a_compute_of_several_vectors_equals_one_per_vector():
    # The machine's rule for COMPUTE.vectors from first principles: vector v reads
    # NBin rows from v * windows and writes NBout rows from out_row + v * out_stride,
    # exactly what a COMPUTE of one vector writes with that vector's input moved
    # to the half's first rows.
    rng = np.random.default_rng(5)
    model = random_model(rng, [70, 20], 0.5, 4)
    x = random_inputs(rng, 70, vectors=3, density=0.6)
    cfg = small_config(4, 4, nbin_bytes=8192, nibin_bytes=512, nbout_bytes=2048)
    program = compile_model(model, cfg, x, tune=False)    # (one pass of 3)
    (word,) = [w for w in program.words if decode(w)[0] == Op.COMPUTE]
    op, f = decode(word)
    assert f["vectors"] == 3 and f["out_stride"] > 0
    m, alone, out = _against_one_vector_computes(program, word)
    for v in range(3):
        at = out + v * f["out_stride"]
        np.testing.assert_array_equal(m.nbout[at:at + f["groups"]], alone[v],
                                      err_msg=f"vector {v}")


def _against_one_vector_computes(program, word):
    """The machine after the program up to and with the COMPUTE ``word``, and per
    vector of that COMPUTE its outputs from a one-vector COMPUTE alone (on a deep
    copy of the machine before it, the vector's input moved to the half's first
    rows, pool 0); and the NBout row of the COMPUTE's first output."""
    import copy

    from golden.twins.machine import Machine
    cfg = program.cfg
    op, f = decode(word)
    before = Machine(cfg, program.image)
    for w in program.words[:program.words.index(word)]:
        before.execute(*decode(w))
    m = copy.deepcopy(before)
    m.execute(op, f)
    W, half = f["windows"], cfg.half(cfg.window_rows) * f["nbin_half"]
    out = cfg.half(cfg.nbout_rows) * f["out_half"] + f["out_row"]
    alone = []
    for v in range(f["vectors"]):
        k = copy.deepcopy(before)
        k.nib[half:half + W] = before.nib[half + v * W:half + (v + 1) * W]
        k.nbin[half:half + W] = before.nbin[half + v * W:half + (v + 1) * W]
        k.execute(Op.COMPUTE, {**f, "vectors": 0, "out_stride": 0, "tiles": 0, "pool": 0})
        alone.append(k.nbout[out:out + f["groups"]].astype(np.int64))
    return m, alone, out


def test_a_compute_of_pool_tiles_is_the_max_of_its_tiles():
    # COMPUTE.tiles from first principles: every `tiles` consecutive vectors are one
    # pool window; its output rows hold the lane-wise max of what each tile alone
    # computes (a one-vector COMPUTE, pool 0, its input moved to the half's start).
    rng = np.random.default_rng(6)
    model = random_model(rng, [70, 20], 0.5, 4, scale=1.0, activation="identity")
    x = random_inputs(rng, 70, vectors=8, density=0.6)
    cfg = small_config(4, 4, nbin_bytes=8192, nibin_bytes=512, nbout_bytes=2048)
    program = compile_model(model, cfg, x, pool=4, tune=False)
    (word,) = [w for w in program.words if decode(w)[0] == Op.COMPUTE]
    op, f = decode(word)
    assert (f["vectors"], f["tiles"], f["pool"]) == (8, 4, 0) and f["out_stride"] > 0
    np.testing.assert_array_equal(run_program(program)[0], infer(model, x, pool=4))
    m, alone, out = _against_one_vector_computes(program, word)
    for b in range(2):
        at = out + b * f["out_stride"]
        want = np.max(alone[4 * b:4 * b + 4], axis=0)
        assert (want < 0).any()          # signed maxima, not just ReLU outputs
        np.testing.assert_array_equal(m.nbout[at:at + f["groups"]], want, err_msg=f"window {b}")


def _batch(seed, sizes, sparsity, vectors, block=(2, 4), **buffers):
    """A random MLP of 4-bit weights (``block``-shaped pruning), ``vectors`` inputs
    and the demo's buffers (an 8 KB NBin and NBout, a 32 KB instruction buffer;
    ``buffers`` overrides them) at Tn = Tm = 4."""
    rng = np.random.default_rng(seed)
    model = random_model(rng, sizes, sparsity, 4, block=block)
    x = random_inputs(rng, sizes[0], vectors=vectors, density=0.5)
    return model, x, small_config(4, 4, **{**dict(nbin_bytes=8192, nibin_bytes=512,
                                                  nbout_bytes=8192, ib_bytes=32768),
                                           **buffers})


def test_tuning_takes_the_other_kind_of_pass_where_the_model_says_fewer_cycles():
    # The fewest words is not the fewest cycles: a COMPUTE per vector and chunk
    # pays the pipeline's fill each time, a resident pass loads the weights once
    # per pass.  The compiler tries, per synapse-reuse layer of several chunks, the
    # other kind of pass, and per layer of resident weights passes of fewer
    # vectors, and keeps what the performance model gives fewer cycles.
    model, x, cfg = _batch(0, [64, 192, 64, 10], 0.3, 12)
    tuned = compile_model(model, cfg, x)
    plain = compile_model(model, cfg, x, tune=False)
    flipped = [li for li, (a, b) in enumerate(zip(tuned.tilings, plain.tilings))
               if a.inputs_resident != b.inputs_resident]
    assert flipped and tuned.layers[flipped[0]]["chunks"] > 1, \
        [t.as_dict() for t in tuned.tilings]
    smaller = [li for li, (a, b) in enumerate(zip(tuned.tilings, plain.tilings))
               if li not in flipped and a.per_pass != b.per_pass]
    assert smaller and all(tuned.layers[li]["chunks"] == 1 and
                           tuned.tilings[li].per_pass < plain.tilings[li].per_pass
                           and tuned.tilings[li].words == plain.tilings[li].words
                           for li in smaller)
    changed = flipped + smaller
    for li in changed:
        assert tuned.layers[li]["reuse"]["chosen_by"] == "cycles"
        assert plain.layers[li]["reuse"]["chosen_by"] == "words"
        assert plain.tilings[li].words <= tuned.tilings[li].words    # words chose the plain
    assert perfmodel.predict(tuned)["cycles"] < perfmodel.predict(plain)["cycles"]
    report = {line.split()[0]: line for line in reuse_report(tuned).splitlines()[2:]}
    assert all(("chosen by the model's cycles" in report[tuned.layers[li]["name"]])
               == (li in changed) for li in range(len(tuned.layers)))
    # (another compile's tilings are kept as given: no tuning)
    again = compile_model(model, cfg, x, tilings=plain.tilings)
    assert [t.inputs_resident for t in again.tilings] == \
        [t.inputs_resident for t in plain.tilings]
    expected, _ = run_program(tuned)
    np.testing.assert_array_equal(expected, infer(model, x))


def test_tuning_keeps_a_layer_of_several_chunks_to_the_fewest_words_per_pass():
    # Smaller passes over a layer of several chunks would overlap more of its
    # stores with its compute (the model gives fewer cycles here) but load each
    # chunk once more per pass: more off-chip words, the energy's largest part.
    # The tuning takes smaller passes only where the weights stay resident.
    model, x, cfg = _batch(1, [64, 48, 40, 10], 0.6, 12)
    tuned = compile_model(model, cfg, x)
    li = 0
    t = tuned.tilings[li]
    assert tuned.layers[li]["chunks"] > 1 and t.inputs_resident and t.chosen_by == "words"
    smaller = list(tuned.tilings)
    smaller[li] = dataclasses.replace(t, per_pass=t.per_pass // 2)
    other = compile_model(model, cfg, x, tilings=smaller)
    assert other.tilings[li].per_pass == t.per_pass // 2
    assert perfmodel.predict(other)["cycles"] < perfmodel.predict(tuned)["cycles"]
    assert other.tilings[li].words > t.words
    moved = sum(s.words for s in perfmodel.work(other) if s.op in (Op.LOAD, Op.STORE))
    assert moved == sum(tt.words for tt in other.tilings)
    # (the last layer, weights resident: smaller passes, the same words)
    assert tuned.layers[-1]["chunks"] == 1 and tuned.tilings[-1].chosen_by == "cycles"


@pytest.mark.parametrize("seed, dense", [(1, False), (1, True)])
def test_a_pass_stores_in_one_store_and_the_next_layer_overlaps_it_on_the_rtl(seed, dense):
    # Three layers, 12 vectors in passes with resident inputs: a pass's output
    # block goes out in one STORE (``vectors``), the layer's last one split where
    # the next layer's first pass ends; the last layer, weights resident, runs in
    # passes of 6 (the tuning, by the model's cycles), its first pass's inputs
    # loaded before the layer before's last STORE, and reading without a fence
    # what an earlier STORE wrote.  Bit-exact on the RTL, the model exact.
    replay = f"replay: seed={seed} dense={dense}"
    model, x, cfg = _batch(seed, [64, 48, 40, 10], 0.6, 12)
    program = compile_model(model, cfg, x)
    last = program.tilings[-1]
    assert program.layers[-1]["chunks"] == 1 and last.chosen_by == "cycles", replay
    assert 1 < last.per_pass < 12, replay
    if dense:        # (under the sparse compile's tiling, as make demo runs it)
        program = compile_model(model, cfg, x, dense=True, tilings=program.tilings)
        assert program.tilings[-1].per_pass == last.per_pass, replay
    ops = [decode(w) for w in program.words]
    stores = [f for op, f in ops if op == Op.STORE]
    assert max(f["vectors"] for f in stores) > 1 and len(stores) < 2 * 12, replay
    later = [(k, f) for k, (op, f) in enumerate(ops) if op == Op.LOAD and f["target"]
             in (Target.NIB, Target.NBIN) and not program.comments[k].startswith("fc1")]
    assert any(not f["fence"] for _, f in later), replay
    assert unordered_reads(program) == [], replay
    _on_rtl(program, model, x, replay)


def test_unordered_reads_finds_a_load_moved_before_the_store_it_needs():
    # The check the test above relies on can fail: an unfenced input LOAD pair
    # (bitmaps, then the neurons they count) moved before the STORE whose issue
    # shows the one it reads is done.
    model, x, cfg = _batch(3, [64, 48, 40, 10], 0.6, 12)
    program = compile_model(model, cfg, x)
    assert unordered_reads(program) == []
    ops = [decode(w) for w in program.words]
    k = next(k for k, (op, f) in enumerate(ops) if op == Op.LOAD and not f["fence"]
             and f["target"] == Target.NBIN and not program.comments[k].startswith("fc1"))
    assert ops[k - 1][0] == Op.LOAD and ops[k - 1][1]["target"] == Target.NIB
    s = max(j for j in range(k) if ops[j][0] == Op.STORE)
    words = list(program.words)
    pair = [words.pop(k - 1), words.pop(k - 1)]
    words[s:s] = pair
    bad = unordered_reads(dataclasses.replace(program, words=words))
    assert bad and {b[0] for b in bad} <= {s, s + 1} and s + 1 in {b[0] for b in bad}


def _resident_passes(seed):
    """Three layers, 8 vectors; fc2's pass holds them all, its inputs resident."""
    rng = np.random.default_rng(seed)
    model = random_model(rng, [150, 90, 40], 0.5, 4)
    x = random_inputs(rng, 150, vectors=8, density=0.5)
    return model, x, small_config(4, 4, sb_bytes=512, nbout_bytes=2048, nbin_bytes=8192,
                                  nibin_bytes=512)


@pytest.mark.parametrize("seed, parts", [(1, 3), pytest.param(4, 2, marks=pytest.mark.slow)])
def test_resident_inputs_in_several_loads(seed, parts):
    # fc2's pass of 8 resident inputs in ``parts`` LOAD pairs, fc1's last STOREs split
    # where each run starts: each run's LOADs come after the STOREs of its own
    # vectors (the golden machine reads what they wrote: its outputs are the
    # model's), the words moved are the same as in one LOAD pair, and the RTL
    # agrees with the golden machine, the compiler's words and the model's cycles.
    model, x, cfg = _resident_passes(seed)
    replay = f"replay: seed={seed} parts={parts}"
    one = compile_model(model, cfg, x, tune=False)
    assert one.tilings[1].inputs_resident and one.tilings[1].per_pass == 8, replay
    tilings = list(one.tilings)
    tilings[1] = dataclasses.replace(tilings[1], input_parts=parts)
    program = compile_model(model, cfg, x, tilings=tilings)
    assert program.tilings[1].input_parts == parts, replay
    assert program.layers[1]["reuse"]["input_parts"] == parts, replay

    def listed(p, op, target=None, prefix=""):
        return [(f, c) for (o, f), c in zip(map(decode, p.words), p.comments)
                if o == op and (target is None or f.get("target") == target)
                and c.startswith(prefix)]
    starts = [0, 3, 6] if parts == 3 else [0, 4]
    nbin = listed(program, Op.LOAD, Target.NBIN, "fc2:")
    assert [f["row"] for f, _ in nbin] == [v * program.layers[1]["windows"] for v in starts]
    assert [max(1, f["segments"]) for f, _ in nbin] == \
        [b - a for a, b in zip(starts, starts[1:] + [8])], replay
    # fc1's last block: a STORE per run (its first vectors' rows)
    last = listed(program, Op.STORE, prefix="fc1:")[-len(starts):]
    assert [max(1, f["vectors"]) for f, _ in last] == \
        [b - a for a, b in zip(starts, starts[1:] + [8])], replay
    # Each run's LOADs follow the STORE of its vectors and one more (so the run loads
    # as soon as its own vectors are written, with no fence) and go before the
    # STORE after that; the last run's, with no STORE left to follow, fenced.
    order = list(program.comments)
    n = len(starts)
    for k, (f, c) in enumerate(nbin):
        at = order.index(c)
        assert order.index(last[min(k + 1, n - 1)][1]) < at, replay
        if k + 2 < n:
            assert at < order.index(last[k + 2][1]), replay
        assert f["fence"] == (k == n - 1), replay
    # (the same words as in one LOAD pair, and the RTL moves them)
    assert [t.words for t in program.tilings] == [t.words for t in one.tilings], replay
    _on_rtl(program, model, x, replay)


def test_the_compiler_splits_resident_inputs_only_where_the_model_says_faster():
    # (seed 1: a case where splitting pays; at seed 0 one LOAD pair is fastest
    # since a LOAD's response register, a cycle more per LOAD)
    model, x, cfg = _resident_passes(1)
    program = compile_model(model, cfg, x)
    k = program.tilings[1].input_parts
    assert k > 1
    report = reuse_report(program).splitlines()
    assert [f"in {k} LOADs a pass" in line for line in report[2:]] == [False, True]
    cycles = perfmodel.predict(program)["cycles"]
    for parts in {1, k - 1, k + 1}:
        tilings = list(program.tilings)
        tilings[1] = dataclasses.replace(tilings[1], input_parts=parts)
        other = compile_model(model, cfg, x, tilings=tilings)
        assert perfmodel.predict(other)["cycles"] >= cycles if parts == k + 1 else \
            perfmodel.predict(other)["cycles"] > cycles, parts


def test_groups_without_weights_are_left_out_on_the_rtl(monkeypatch):
    # A random MLP whose pruning left groups of Tn outputs without a weight (blocks
    # of 4 x 32, 70 % pruned), and one whose outputs fc3 does not use: sparse, the
    # compiler leaves them out and folds the constant outputs of the first kind
    # (ReLU of the bias alone, many nonzero) into the next layer's bias;
    # bit-exact on the RTL against the golden inference of the whole model, the
    # words and the model's cycles exact; fewer SSM steps than the program that
    # computes them; dense, under the same tiling, every group computed.
    model, x, cfg = _batch(0, [64, 48, 40, 10], 0.7, 6, block=(4, 32))
    program = compile_model(model, cfg, x)
    # (fc1's groups without a weight counted from the model's weights; every layer's
    # outputs those of the model less 4 per group left out, the last's all)
    from golden.contract.model import decompress
    w1 = decompress(model)[0]["weight"]
    weightless = int((~w1.reshape(-1, 4, w1.shape[1]).any(axis=(1, 2))).sum())
    layers = program.layers
    assert weightless > 0 and layers[0]["dead_groups"] == weightless
    assert sum(layer["unused_groups"] for layer in layers) > 0
    assert [layer["n_out"] for layer in layers] == [
        n - 4 * (layer["dead_groups"] + layer["unused_groups"])
        for n, layer in zip([48, 40, 10], layers)]
    assert layers[-1]["n_out"] == 10 and layers[0]["n_in"] == 64
    _on_rtl(program, model, x, "replay: seed=0 sizes=64,48,40,10 block=4x32")
    dense = compile_model(model, cfg, x, dense=True, tilings=program.tilings)
    assert [layer["n_out"] for layer in dense.layers] == [48, 40, 10]
    np.testing.assert_array_equal(run_program(dense)[0], infer(model, x))
    # (the same program computing every group: plan_model's drop turned off)
    import golden.compiler.plan as plan_module
    monkeypatch.setattr(plan_module, "drop_dead_groups", lambda decs, tn: decs)
    full = compile_model(model, cfg, x, tilings=program.tilings)
    assert [layer["n_out"] for layer in full.layers] == [48, 40, 10]
    steps = [sum(s.steps for s in perfmodel.work(p) if s.op == Op.COMPUTE)
             for p in (program, full)]
    assert steps[0] < steps[1], steps


def test_dense_under_the_sparse_tiling_keeps_its_passes_within_its_nbin_half():
    # Leaving out fc1's groups gives the sparse fc2 one NSM window of inputs where
    # dense mode reads two: sparse passes of 8 resident vectors (what a sparse NBin
    # half holds) do not fit a dense NBin half (16 window rows), so dense under
    # that tiling takes passes of 4 (without that cap: an IndexError in the golden
    # machine), and computes the model's outputs.
    from dataclasses import replace
    model, x, cfg = _batch(1, [64, 96, 40, 10], 0.75, 16, block=(4, 32), nbin_bytes=2048,
                           nibin_bytes=128)
    tuned = compile_model(model, cfg, x).tilings
    sparse = compile_model(model, cfg, x, tilings=[
        t if i != 1 else replace(t, per_pass=8) for i, t in enumerate(tuned)])
    assert sparse.layers[1]["windows"] == 1 and sparse.tilings[1].per_pass == 8
    np.testing.assert_array_equal(run_program(sparse)[0], infer(model, x))
    dense = compile_model(model, cfg, x, dense=True, tilings=sparse.tilings)
    assert dense.layers[1]["windows"] == 2 and dense.tilings[1].per_pass == 4
    assert dense.tilings[1].inputs_resident
    np.testing.assert_array_equal(run_program(dense)[0], infer(model, x))
