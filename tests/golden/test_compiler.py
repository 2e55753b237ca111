"""The compiler's stages one by one — plan, place, emit, relocate — against
hand-worked layers, and the whole against the golden machine."""

import numpy as np
import pytest

from golden.compiler import CompileError, compile_model, emit_program, place, plan_model, relocate
from golden.compiler.plan import chunks, merged_book, plan_layer
from golden.contract.config import small_config
from golden.contract.isa import Op, Slot, Target, decode
from golden.contract.layout import decode_vector, join_words
from golden.contract.model import Layer, Model, decompress
from golden.contract.packing import unpack
from golden.twins.infer import infer
from golden.twins.machine import run_program

CFG = small_config(2, 2)          # W = 32 positions per window, SB words of 128 bits,
                                  # memory words of 32 bits


def _layer(name, weight, bits=16, f_w=8):
    """An FC layer holding exactly ``weight`` (int16), block 1: no codebook."""
    weight = np.asarray(weight, dtype=np.int64)
    mask = weight != 0
    return Layer(name=name, kind="fc", shape=weight.shape, block=(1, 1), bits=bits,
                 block_mask=mask, codes=weight[mask], codebooks=None,
                 bias=np.arange(weight.shape[0], dtype=np.int32), f_in=8, f_w=f_w, f_out=8,
                 activation="relu")


def _hand_layer():
    # 3 outputs (2 groups of Tn = 2), 40 inputs (2 windows of 32).
    w = np.zeros((3, 40), dtype=np.int64)
    w[0, [1, 5]] = [3, -4]          # group 0: positions 1, 5, 33 -> 3 synapses
    w[1, [5, 33]] = [7, 2]
    w[2, [0, 38, 39]] = [1, 1, 1]   # group 1: positions 0, 38, 39
    return w


def test_plan_of_a_hand_worked_layer():
    (plan,) = plan_model(Model([_layer("fc", _hand_layer())]), CFG, False, 40)
    assert (plan.groups, plan.windows, plan.n_out, plan.slot) == (2, 2, 3, Slot.W16)
    assert plan.why_raw == "16-bit weights"
    # Both groups hold a synapse in both windows: no window to skip, one SIB row per window.
    assert not plan.skip and plan.sib_rows == [2, 2]
    union0 = np.zeros(64, dtype=bool)
    union0[[1, 5, 33]] = True
    np.testing.assert_array_equal(np.concatenate(plan.sib[0]), union0)
    # 3 stored weights per PE, 8 raw int16 per 128-bit word: one SB word per group.
    assert plan.sb_words == [1, 1]
    pe0 = unpack(plan.sb[0][0], 16, CFG.tm)[:3]
    pe1 = unpack(plan.sb[0][1], 16, CFG.tm)[:3]
    assert pe0.tolist() == [3, -4, 0] and pe1.tolist() == [0, 7, 2]   # explicit zeros
    assert plan.bias.tolist() == [[0, 1], [2, 0]]


def test_plan_skips_empty_windows_with_masks():
    w = np.zeros((2, 96), dtype=np.int64)        # one group, three windows
    w[0, 70] = 5                                  # only window 2 holds a synapse
    (plan,) = plan_model(Model([_layer("fc", w)]), CFG, False, 96)
    # One mask row (windows 0..31 of the segment) and one bitmap row instead of 3.
    assert plan.skip and plan.sib_rows == [2]
    assert np.flatnonzero(plan.sib[0][0]).tolist() == [2]
    assert np.flatnonzero(plan.sib[0][1]).tolist() == [70 - 64]


def test_chunks_split_by_the_sb_half():
    w = np.ones((8, 30), dtype=np.int64)          # 4 groups, 30 weights each: 4 SB words
    (plan,) = plan_model(Model([_layer("fc", w)]), small_config(2, 2, sb_bytes=256), False, 30)
    assert plan.sb_words == [4, 4, 4, 4]
    assert small_config(2, 2, sb_bytes=256).half(small_config(2, 2, sb_bytes=256).sb_words) == 8
    assert chunks(plan, small_config(2, 2, sb_bytes=256), 0, 4) == [(0, 2), (2, 4)]
    with pytest.raises(CompileError, match="one group needs 4 SB words, an SB half holds 2"):
        plan_model(Model([_layer("fc", w)]), small_config(2, 2, sb_bytes=64), False, 30)


def test_an_activation_the_configuration_leaves_out_is_refused():
    # (the iCEBreaker's profile computes identity and ReLU only: its PEFUs have no
    # sigmoid or tanh tables)
    from dataclasses import replace

    from golden.contract.config import profile_config
    cfg = profile_config("icebreaker")
    assert cfg.activations == ("identity", "relu")
    layer = _layer("fc1", _hand_layer())
    x = np.ones((1, 40), dtype=np.int16)
    assert plan_model(Model([layer]), cfg, False, 40)          # ReLU: planned
    for act in ("sigmoid", "tanh"):
        with pytest.raises(CompileError, match=rf"^layer 'fc1': activation '{act}' is not among "
                                               r"the configuration's activations \(identity, "
                                               r"relu; parameter activations\)$"):
            compile_model(Model([replace(layer, activation=act)]), cfg, x)
    compile_model(Model([replace(layer, activation="tanh")]),
                  replace(cfg, activations=("relu", "tanh")), x)


def test_place_writes_inputs_first_then_each_chunk():
    model = Model([_layer("fc", _hand_layer())])
    x = np.arange(80, dtype=np.int16).reshape(2, 40) % 7
    plans = plan_model(model, CFG, False, 40)
    pl = place(plans, CFG, x, False, 1)
    for v in range(2):
        np.testing.assert_array_equal(decode_vector(pl.data, pl.acts[v][0], CFG), x[v])
    (layout,) = pl.layers
    (chunk,) = layout.chunks[layout.blocks[0]]
    assert (chunk.g0, chunk.g1, chunk.sib_rows, chunk.words) == (0, 2, 4, 2)
    first_weight = min(chunk.sib, chunk.sb, chunk.bias)
    assert all(a.val_addr < first_weight for row in pl.acts for a in row)
    # The SB words in memory: row by row, PE 0 then PE 1, each 128 bits in 32-bit words.
    assert CFG.mem_width == 32 and CFG.words["sb"] == 4
    words = [join_words([pl.data[chunk.sb + 4 * k + i] for i in range(4)], 32)
             for k in range(4)]
    assert words == [plans[0].sb[0][0][0], plans[0].sb[0][1][0],
                     plans[0].sb[1][0][0], plans[0].sb[1][1][0]]


def test_emit_orders_loads_compute_and_deferred_stores():
    rng = np.random.default_rng(1)
    w1 = rng.integers(-50, 50, size=(6, 40)) * (rng.random((6, 40)) < 0.5)
    w2 = rng.integers(-50, 50, size=(3, 6))
    model = Model([_layer("fc1", w1), _layer("fc2", w2)])
    x = rng.integers(-100, 100, size=(3, 40)).astype(np.int16)
    plans = plan_model(model, CFG, False, 40)
    words, comments, info = emit_program(plans, place(plans, CFG, x, False, 1), CFG, False, 1)
    ops = [decode(w) for w in words]
    assert ops[-1][0] == Op.END and [i["name"] for i in info] == ["fc1", "fc2"]
    assert all(i["weights_resident"] for i in info)              # one chunk each
    computes = [k for k, (op, _) in enumerate(ops) if op == Op.COMPUTE]
    stores = [k for k, (op, _) in enumerate(ops) if op == Op.STORE]
    assert len(computes) == 6 and len(stores) == 6
    # A STORE comes right after the COMPUTE that follows the one it stores (a
    # layer's last one after the next layer's first COMPUTE); the program's last
    # one before END.
    for k in stores:
        assert ops[k - 1][0] == Op.COMPUTE or ops[k + 1][0] == Op.END
    assert [ops[k - 1][0] for k in stores].count(Op.STORE) == 1
    assert "fc1: vector 2" in comments[stores[2]] and computes[3] < stores[2]
    # fc2's loads of vector v come after fc1's STORE of v and another STORE (which
    # issues only once that one is done): no fence.
    for k, (op, f) in enumerate(ops):
        if op == Op.LOAD and f["target"] in (Target.NIB, Target.NBIN) and "fc2" in comments[k]:
            v = int(comments[k].rsplit("vector ", 1)[1])
            wrote = stores.index(next(j for j in stores if f"fc1: vector {v}," in comments[j]))
            assert f["fence"] == 0 and stores[wrote + 1] < k
    # The NBin half alternates per vector; a COMPUTE reads the half its vector's loads wrote.
    halves = [f["nbin_half"] for op, f in ops if op == Op.COMPUTE]
    assert halves == [0, 1, 0, 1, 0, 1]


def test_relocate_moves_the_data_behind_the_program():
    model = Model([_layer("fc", _hand_layer())])
    x = np.ones((1, 40), dtype=np.int16)
    plans = plan_model(model, CFG, False, 40)
    pl = place(plans, CFG, x, False, 1)
    words, _, _ = emit_program(plans, pl, CFG, False, 1)
    before = [decode(w) for w in words]
    data = dict(pl.data)
    moved, image = relocate(words, pl, CFG)
    offset = len(words) * CFG.words["instruction"]
    for (op, f), (op2, f2) in zip(before, map(decode, moved)):
        assert op == op2
        if op in (Op.LOAD, Op.STORE):
            assert f2["mem_addr"] == f["mem_addr"] + offset
    n = CFG.words["instruction"]
    for k, w in enumerate(moved):
        assert join_words([image[n * k + i] for i in range(n)], CFG.mem_width) == w
    assert all(image[a + offset] == v for a, v in data.items())
    assert pl.acts[0][0].val_addr >= offset


@pytest.mark.parametrize("seed", range(6))
def test_compiled_programs_run_to_the_golden_inference(seed):
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-60, 60, size=(9, 70)) * (rng.random((9, 70)) < 0.3)
    w2 = rng.integers(-60, 60, size=(5, 9))
    model = Model([_layer("fc1", w1), _layer("fc2", w2)])
    x = rng.integers(-100, 100, size=(3, 70)).astype(np.int16)
    tn, tm = [(2, 2), (4, 4), (1, 2)][seed % 3]
    # Small SB halves (16 words per PE) split the layer in several chunks.
    cfg = small_config(tn, tm, sb_bytes=[None, 32 * 8 * tm][seed % 2])
    for dense in (False, True):
        out, _ = run_program(compile_model(model, cfg, x, dense=dense))
        np.testing.assert_array_equal(out, infer(model, x), err_msg=f"seed {seed}")


def test_a_pass_stores_in_one_store_split_where_the_next_layers_passes_start():
    # Twelve vectors' outputs, one window each, at one stride in memory: one STORE
    # of twelve; split at vectors 5 and 10 (where the next layer's passes start):
    # STOREs of 5, 5 and 2, each from its first vector's rows and addresses.  At
    # uneven strides: a STORE per vector.
    from golden.compiler.emit import Emitter, pass_starts
    from golden.compiler.tiling import Tiling
    from golden.contract.layout import VectorLayout
    G, w = CFG.groups_per_window, CFG.words
    plan = plan_model(Model([_layer("fc", _hand_layer())]), CFG, False, 40)[0]
    blk = (0, G)                                        # one window of outputs
    step = 3 * w["nbin"]
    dsts = [VectorLayout(CFG.window, 1000 + v * step, 1001 + v * step) for v in range(12)]
    for split, sizes in [((), [12]), ((5, 10), [5, 5, 2]), ((12,), [12]), ((1,), [1, 11])]:
        em = Emitter(CFG, False)
        em.store_vectors(plan, blk, dsts, list(range(12)), 1, split=split)
        em.flush()
        fs = [decode(word)[1] for word in em.words]
        assert [max(1, f["vectors"]) for f in fs] == sizes, split
        first = [sum(sizes[:k]) for k in range(len(sizes))]
        assert [f["row"] for f in fs] == [v * G for v in first]
        assert [f["mem_addr"] for f in fs] == [dsts[v].val_addr for v in first]
        assert [f["bm_addr"] for f in fs] == [dsts[v].bm_addr for v in first]
        assert all(f["vec_step"] == (step if f["vectors"] else 0) for f in fs)
    em = Emitter(CFG, False)
    em.store_vectors(plan, blk, dsts[:2] + [VectorLayout(CFG.window, 5000, 5001)],
                     [0, 1, 2], 0)
    em.flush()
    assert [decode(word)[1]["vectors"] for word in em.words] == [0, 0, 0]
    # Where a layer's passes start: every pass under resident inputs, else vector 1.
    assert pass_starts(Tiling("synapse", 12, 5, 1, inputs_resident=True), 12) == (5, 10)
    assert pass_starts(Tiling("synapse", 12, 5, 1), 12) == (1,)
    assert pass_starts(None, 12) == (1,)
    # ... and each pass's runs with its inputs in several LOADs: passes 0..4, 5..9,
    # 10..11 in 2 runs each (the longer first, never more runs than vectors).
    assert pass_starts(Tiling("synapse", 12, 5, 1, inputs_resident=True, input_parts=2),
                       12) == (3, 5, 8, 10, 11)
    assert pass_starts(Tiling("synapse", 12, 5, 1, inputs_resident=True, input_parts=9),
                       12) == tuple(range(1, 12))


def test_part_starts_by_hand():
    from golden.compiler.emit import part_starts
    assert part_starts(10, 1) == [0]
    assert part_starts(10, 3) == [0, 4, 7]          # runs of 4, 3, 3
    assert part_starts(10, 4) == [0, 3, 6, 8]       # 3, 3, 2, 2
    assert part_starts(3, 5) == [0, 1, 2]           # no empty run
    assert part_starts(1, 0) == [0]


def _dead_group_model(bias2=None, row3=0, group2_used=True):
    """fc1: 6 outputs in 3 groups of Tn = 2, group 1 (rows 2, 3) with no weight and
    biases that make its outputs constants 1 and 4 (ReLU of (b + 128) >> 8); fc2: 3
    outputs, 6 inputs, weights on rows 2 and 3 among others; group 2 of fc2 (its
    row 2) with no weight, kept: the last layer keeps every output.  ``row3``: a
    weight for row 3; ``group2_used=False``: no weight of fc2 on fc1's group 2
    (rows 4, 5)."""
    w1 = np.zeros((6, 40), dtype=np.int64)
    w1[0, [1, 5]] = [300, -200]
    w1[1, 33] = 250
    w1[4, [0, 39]] = [100, 100]
    w1[5, 7] = -90
    w1[3, 10] = row3            # (a weight: group 1 no longer dead)
    fc1 = _layer("fc1", w1)
    fc1.bias = np.array([0, 5, 300, 1000, -7, 2], dtype=np.int32)
    w2 = np.zeros((3, 6), dtype=np.int64)
    w2[0, [0, 2, 3]] = [5, -3, 2]
    w2[1, [1, 3, 4, 5]] = [7, 11, 1, -2] if group2_used else [7, 11, 0, 0]
    fc2 = _layer("fc2", w2)
    fc2.bias = np.array([10, -20, 30] if bias2 is None else bias2, dtype=np.int32)
    return Model([fc1, fc2])


def test_plan_drops_an_fc_group_without_weights_and_folds_its_outputs_into_the_next_bias():
    # By hand: fc1's group 1 outputs relu((300 + 128) >> 8) = 1 and
    # relu((1000 + 128) >> 8) = 4 whatever the input; fc2 sees them through its
    # columns 2 and 3 at f_in + f_w = 16 fractional bits, the bias' scale: row 0
    # adds -3 * 1 + 2 * 4 = 5, row 1 adds 11 * 4 = 44, row 2 nothing.
    model = _dead_group_model()
    p1, p2 = plan_model(model, CFG, False, 40)
    assert (p1.n_out, p1.groups, list(p1.kept)) == (4, 2, [0, 1, 4, 5])
    assert p2.n_in == 4 and p2.kept is None and p2.n_out == 3
    assert list(p2.bias.reshape(-1)[:3]) == [10 + 5, -20 + 44, 30]
    # (dense mode computes every output: the baseline does the work the sparse skips)
    d1, d2 = plan_model(model, CFG, True, 40)
    assert (d1.n_out, d1.kept, d2.n_in) == (6, None, 6)
    rng = np.random.default_rng(0)
    x = rng.integers(-300, 300, size=(3, 40)).astype(np.int16)
    for dense in (False, True):
        program = compile_model(model, CFG, x, dense=dense)
        np.testing.assert_array_equal(run_program(program)[0], infer(model, x))
    # (a group with one weight is computed)
    p1, p2 = plan_model(_dead_group_model(row3=1), CFG, False, 40)
    assert (p1.n_out, p1.kept, p2.n_in) == (6, None, 6)


def test_plan_keeps_dead_groups_whose_folded_bias_would_leave_int32():
    model = _dead_group_model(bias2=[2**31 - 6, 0, 0])      # row 0 would take +5: fits
    assert plan_model(model, CFG, False, 40)[0].n_out == 4
    model = _dead_group_model(bias2=[2**31 - 5, 0, 0])      # +5 reaches 2**31: kept
    p1, p2 = plan_model(model, CFG, False, 40)
    assert (p1.n_out, p1.kept, p2.n_in) == (6, None, 6)
    assert p2.bias.reshape(-1)[0] == 2**31 - 5
    x = np.zeros((1, 40), dtype=np.int16)
    np.testing.assert_array_equal(run_program(compile_model(model, CFG, x))[0], infer(model, x))


def test_plan_drops_an_fc_group_whose_outputs_no_weight_of_the_next_layer_uses():
    # fc1's group 2 (rows 4, 5) has weights but fc2 none on its outputs: left out,
    # fc2's bias unchanged by it (only group 1's constants folded, as by hand above).
    model = _dead_group_model(group2_used=False)
    p1, p2 = plan_model(model, CFG, False, 40)
    assert (p1.n_out, list(p1.kept), p1.dead_groups, p1.unused_groups) == (2, [0, 1], 1, 1)
    assert p2.n_in == 2 and list(p2.bias.reshape(-1)[:3]) == [10 + 5, -20 + 44, 30]
    x = np.random.default_rng(1).integers(-300, 300, size=(3, 40)).astype(np.int16)
    np.testing.assert_array_equal(run_program(compile_model(model, CFG, x))[0], infer(model, x))


def test_leaving_out_groups_cascades_through_the_layers():
    # Tn = 2.  fc1's group 1 has no weight (constants relu((300 + 128) >> 8) = 1 and
    # relu((1000 + 128) >> 8) = 4); fc2's group 1 reads only those, so once they are
    # folded into its bias it has no weight either: its constants are
    # relu((256 * 1 + 128) >> 8) = 1 and relu((512 * 4 + 128) >> 8) = 8, folded into
    # fc3's bias (0 + 3 * 1, 1 - 2 * 8).  fc2's group 2 feeds nothing fc3 uses.
    w1 = np.zeros((4, 8), dtype=np.int64)
    w1[0, 0], w1[1, 1] = 100, 200
    fc1 = _layer("fc1", w1)
    fc1.bias = np.array([0, 0, 300, 1000], dtype=np.int32)
    w2 = np.zeros((6, 4), dtype=np.int64)
    w2[0, 0], w2[1, 1] = 50, 60          # group 0 reads fc1's group 0
    w2[2, 2], w2[3, 3] = 256, 512        # group 1 reads fc1's group 1 only
    w2[4, 0], w2[5, 1] = 70, 80          # group 2: fc3 reads none of it
    fc2 = _layer("fc2", w2)
    fc2.bias = np.zeros(6, dtype=np.int32)
    w3 = np.zeros((2, 6), dtype=np.int64)
    w3[0, [0, 2]], w3[1, [1, 3]] = [5, 3], [6, -2]
    model = Model([fc1, fc2, _layer("fc3", w3)])
    p1, p2, p3 = plan_model(model, CFG, False, 8)
    assert [(p.n_in, p.n_out) for p in (p1, p2, p3)] == [(8, 2), (2, 2), (2, 2)]
    assert [list(p1.kept), list(p2.kept)] == [[0, 1], [0, 1]]
    assert [(p.dead_groups, p.unused_groups) for p in (p1, p2, p3)] == [(1, 0), (1, 1), (0, 0)]
    assert list(p3.bias.reshape(-1)[:2]) == [0 + 3, 1 - 16]
    x = np.random.default_rng(2).integers(-300, 300, size=(2, 8)).astype(np.int16)
    np.testing.assert_array_equal(run_program(compile_model(model, CFG, x))[0], infer(model, x))


def test_merged_book_of_hand_worked_codebooks():
    # Two regions' 2-bit codebooks: their distinct values, 0 first (an explicit
    # zero's code), then in order.
    books = np.array([[0, 5, -3, 9], [0, 9, 2, -7]])
    assert merged_book(books).tolist() == [0, -7, -3, 2, 5, 9]
    assert merged_book(np.array([[4, 1], [1, 6]])).tolist() == [0, 1, 4, 6]


def _split_layer(rng, n_out, n_in, books, density=0.5):
    """A 4-bit layer whose regions are the left and right halves of its rows
    (``books``: one codebook each), random codes, bias 0."""
    mask = rng.random((n_out, n_in)) < density
    return Layer(name="fc", kind="fc", shape=(n_out, n_in), block=(1, 1), bits=4,
                 block_mask=mask, codes=rng.integers(0, 16, size=int(mask.sum())),
                 codebooks=np.asarray(books, dtype=np.int16),
                 bias=np.zeros(n_out, dtype=np.int32), f_in=8, f_w=8, f_out=8,
                 activation="relu", region=(n_out, n_in // 2))


def test_regions_that_split_the_rows_decode_through_one_merged_table():
    # A row's weights come from two codebooks (the left and right regions); one
    # COMPUTE decodes with one table, so the two are merged: 32 distinct values
    # need 8-bit indices (half the words of raw int16), 16 shared ones 4-bit.
    rng = np.random.default_rng(7)
    left = np.concatenate([[0], np.arange(1, 16) * 11])
    for right, slot in ((np.concatenate([[0], -np.arange(1, 16) * 13]), Slot.W8),
                        (left[::-1].copy(), Slot.W4)):
        model = Model([_split_layer(rng, 8, 128, [left, right])])
        (plan,) = plan_model(model, CFG, False, 128)
        assert (plan.slot, plan.merged, plan.why_raw) == (slot, 2, None)
        table = plan.books[0]
        assert table[0] == 0 and sorted(table.tolist()) == sorted(set(left) | set(right))
        # Each stored code decodes, through the one table, to the model's weight.
        raw = plan_layer(model.layers[0], decompress(model)[0], CFG, False, force_raw="compare")
        for g in range(plan.groups):
            for j in range(CFG.tn):
                n = len(unpack(raw.sb[g][j], 16, CFG.tm))
                codes = unpack(plan.sb[g][j], slot.bits, CFG.tm)[:n]
                np.testing.assert_array_equal(table[codes], unpack(raw.sb[g][j], 16, CFG.tm))
        assert sum(plan.sb_words) < sum(raw.sb_words)
        x = rng.integers(-300, 300, size=(2, 128)).astype(np.int16)
        program = compile_model(model, CFG, x)
        assert program.layers[0]["slot"] == slot.bits
        np.testing.assert_array_equal(run_program(program)[0], infer(model, x))


def test_regions_that_split_the_rows_stay_raw_where_the_table_costs_more():
    # Two weights a row: the 32-entry table would move more words than it saves.
    rng = np.random.default_rng(8)
    books = [np.arange(16) * 3, -np.arange(16) * 5]
    layer = _split_layer(rng, 2, 64, books, density=0.03)
    (plan,) = plan_model(Model([layer]), CFG, False, 64)
    assert plan.slot == Slot.W16 and plan.merged == 0
    assert "raw int16 moves fewer words than their merged table" in plan.why_raw
    # Without a width whose table holds the 32 values, raw too, saying why.
    from dataclasses import replace
    (plan,) = plan_model(Model([layer]), replace(CFG, widths=(4, 16)), False, 64)
    assert plan.slot == Slot.W16 and "31 distinct values fit no configured width" in plan.why_raw
