"""The compiler's schedule stage (golden.compiler.schedule): the order it picks keeps
every unit's order and every hazard, computes the same, is never slower by the
model, is faster where the emitted order leaves a unit idle, and runs on the RTL
in the cycles the model gives it."""

import numpy as np
import pytest

from golden.compiler import CompileError, compile_model, small_config
from golden.contract.isa import UNIT, Op, accesses, conflict, decode
from golden.contract.layout import join_words
from golden.data.synthetic import random_inputs, random_model
from golden.perf import perfmodel
from golden.twins.infer import infer
from golden.twins.machine import run_program


def _case(seed, vectors=4, **overrides):
    rng = np.random.default_rng(seed)
    model = random_model(rng, [150, 90, 10], 0.5, 4, region=(8, 200) if seed % 2 else None)
    x = random_inputs(rng, 150, vectors=vectors, density=0.5)
    return model, x, small_config(4, 4, **overrides)


def _key(word):
    """An instruction without its ``par`` bit (the stage marks ``par`` afresh)."""
    op, f = decode(word)
    return op, tuple(sorted((k, v) for k, v in f.items() if k != "par"))


@pytest.mark.parametrize("seed, overrides", [
    (2, dict(sb_bytes=1024)),                          # chunks under synapse reuse
    (4, dict(sb_bytes=512, nbout_bytes=2048)),         # several output blocks
    (3, dict(sb_bytes=1024)),                          # a table per region: nothing to gain
])
def test_the_order_keeps_each_unit_and_every_hazard(seed, overrides):
    model, x, cfg = _case(seed, **overrides)
    replay = f"replay: seed={seed} {overrides}"
    emitted = compile_model(model, cfg, x, schedule=False)
    program = compile_model(model, cfg, x)
    order = program.schedule["order"]
    assert sorted(order) == list(range(len(emitted.words))), replay
    assert [_key(w) for w in program.words] == [_key(emitted.words[i]) for i in order], replay
    assert program.comments == [emitted.comments[i] for i in order], replay
    pos = {i: j for j, i in enumerate(order)}
    dec = [decode(w) for w in emitted.words]
    for i, (op_i, f_i) in enumerate(dec):
        if op_i not in UNIT:                           # END stays last
            assert pos[i] == i, replay
            continue
        for j in range(i + 1, len(dec)):
            op_j, f_j = dec[j]
            if op_j not in UNIT:
                continue
            if UNIT[op_i] == UNIT[op_j] or conflict(*accesses(op_i, f_i), *accesses(op_j, f_j)):
                assert pos[i] < pos[j], f"{replay}: {emitted.comments[i]!r} moved after " \
                                        f"{emitted.comments[j]!r}"
    # The controller fetches the instructions from the memory image: the new order there.
    iw = cfg.words["instruction"]
    for k, word in enumerate(program.words):
        assert join_words(program.image.read(program.prog_addr + k * iw, iw),
                          cfg.mem_width) == word, replay
    got, _ = run_program(program)
    np.testing.assert_array_equal(got, infer(model, x), err_msg=replay)
    # Never slower by the model; the report is the model's.
    s = program.schedule
    assert s["cycles"] <= s["cycles_emitted"], replay
    assert perfmodel.predict(program)["cycles"] == s["cycles"], replay
    assert perfmodel.predict(emitted)["cycles"] == s["cycles_emitted"], replay
    if s["moved"] == 0:
        assert program.words == emitted.words, replay


def test_a_batch_under_synapse_reuse_runs_faster_and_the_rtl_agrees():
    # The emitted order holds the next pass's loads behind a COMPUTE and the
    # pass's STOREs; reordered, the load unit runs beside them.
    from tb.sim.accel_sim import MemoryModel, run_accelerator
    model, x, cfg = _case(2, sb_bytes=1024)
    program = compile_model(model, cfg, x)
    s = program.schedule
    assert s["moved"] > 0 and s["cycles"] < s["cycles_emitted"], s
    got, counters, _ = run_accelerator(program, MemoryModel(latency=4))
    np.testing.assert_array_equal(got, infer(model, x))
    assert counters["cycles"] == s["cycles"]


def test_another_compiles_order_and_the_errors():
    model, x, cfg = _case(4, sb_bytes=512, nbout_bytes=2048)
    program = compile_model(model, cfg, x)
    assert program.schedule["moved"] > 0
    again = compile_model(model, cfg, x, schedule=program.schedule)
    assert again.words == program.words and again.image == program.image
    # Other inputs, the same tilings and order: only the inputs' words differ.
    other = random_inputs(np.random.default_rng(99), 150, vectors=4, density=0.5)
    p2 = compile_model(model, cfg, other, tilings=program.tilings, schedule=program.schedule)
    assert [_key(w) for w in p2.words] == [_key(w) for w in program.words]
    np.testing.assert_array_equal(run_program(p2)[0], infer(model, other))
    with pytest.raises(CompileError, match="schedule: order must be a permutation"):
        compile_model(model, cfg, x, schedule={"order": [0, 1]})
    with pytest.raises(CompileError, match="schedule must be True, False or"):
        compile_model(model, cfg, x, schedule="fast")
    assert "order" not in program.summary()["schedule"]
    assert program.summary()["schedule"]["cycles"] == program.schedule["cycles"]


def test_list_schedule_by_hand(monkeypatch):
    # A COMPUTE writing NBout half 0 (50 cycles), two STOREs (30 each: the first of
    # half 0, so it waits for the COMPUTE), a LOAD into SB half 1 (10, free at
    # once) and a LOAD into SB half 0, which the COMPUTE reads (it waits too).
    # Emitted: C S0 S1 L1 L0.  By hand: C at 0; L1 at 0 (ends 11); S0 and L0 wait
    # for C's end (51), S0 first (program order on a tie); S1 waits for S0's end
    # (82), so L0 (51) goes before it.
    import golden.perf.perfmodel as pm
    from golden.compiler.schedule import schedule_order
    from golden.contract.isa import Resource

    class S:
        def __init__(self, index, op, unit, reads, writes, d):
            self.index, self.op, self.unit = index, op, unit
            self.fields = {"skip": 0, "dense": 0}
            self.reads, self.writes, self.d = reads, writes, d
    bit = {r.name: 1 << r.value for r in Resource}
    steps = [S(0, Op.COMPUTE, "compute", bit["SB0"], bit["NBOUT0"], 50),
             S(1, Op.STORE, "store", bit["NBOUT0"], bit["MEM"], 30),
             S(2, Op.STORE, "store", bit["NBOUT1"], bit["MEM"], 30),
             S(3, Op.LOAD, "load", 0, bit["SB1"], 10),
             S(4, Op.LOAD, "load", 0, bit["SB0"], 10),
             S(5, Op.END, None, 0, 0, 0)]
    monkeypatch.setattr(pm, "duration", lambda s, cfg, memory=None, timing=None: s.d)
    monkeypatch.setattr(pm, "compute_time", lambda s, cfg, timing=None, *a: (s.d, []))
    assert schedule_order(steps, small_config(4, 4)) == [0, 3, 1, 4, 2, 5]
    # The LOAD into SB half 0 may not pass the COMPUTE that reads it, whatever it costs.
    steps[4].d = 0
    steps[3], steps[4] = steps[4], steps[3]
    steps[3].index, steps[4].index = 3, 4
    order = schedule_order(steps, small_config(4, 4))
    assert order.index(3) > order.index(0) and order.index(3) < order.index(4)
