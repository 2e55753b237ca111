"""The accelerator end to end: ISA, configuration, compiler, golden machine,
and the RTL (Amaranth simulation and cocotb on the generated Verilog), bit-exact."""

import json
import subprocess
import sys

import numpy as np
import pytest

from golden.compiler import CompileError, compile_model, small_config
from golden.compression.pipeline import CompressConfig, compress_network
from golden.contract.config import SMALL, THESIS, AccelConfig
from golden.contract.isa import UNIT, Op, Slot, Target, accesses, conflict, decode, encode, listing
from golden.contract.layout import decode_vector, split_words
from golden.contract.model import save
from golden.data.synthetic import random_inputs, random_model, random_sparse_fc
from golden.perf import perfmodel
from golden.twins.infer import infer
from golden.twins.machine import run_program
from tb.sim.accel_sim import MemoryModel, run_accelerator

# --- ISA and configuration ---------------------------------------------------------

def test_isa_round_trip_and_errors():
    w = encode("COMPUTE", par=1, nbin_half=1, windows=3, groups=7, shift=12, activation=1)
    op, f = decode(w)
    assert op == Op.COMPUTE and f["par"] == 1 and f["windows"] == 3 and f["groups"] == 7
    assert f["shift"] == 12 and f["sib_half"] == 0 and f["slot"] == Slot.W4
    assert decode(encode("LOAD", target="SB", count=5))[1]["target"] == Target.SB
    assert (encode(Op.LOAD, target=Target.SB, count=5) >> 5) & 7 == 3    # bits 5..7
    with pytest.raises(ValueError, match="^LOAD field 'target' = 7 is not a Target"):
        decode(Op.LOAD.value | 7 << 5)
    with pytest.raises(ValueError, match="^COMPUTE field 'shift' = 40 does not fit 5 bits$"):
        encode("COMPUTE", shift=40)
    with pytest.raises(ValueError, match="^LOAD has no field 'groups'"):
        encode("LOAD", groups=1)
    with pytest.raises(ValueError, match="^op must be one of"):
        encode("JUMP")
    with pytest.raises(ValueError, match="^unknown opcode 9"):
        decode(9)
    assert "COMPUTE" in listing([w], ["a comment"]) and "a comment" in listing([w], ["a comment"])


@pytest.mark.parametrize("a, b, clash", [
    # Worked by hand from the buffer halves each instruction reads and writes.
    (("LOAD", dict(target="SB", half=0)), ("COMPUTE", dict(sb_half=0)), True),    # RAW
    (("LOAD", dict(target="SB", half=1)), ("COMPUTE", dict(sb_half=0)), False),
    (("LOAD", dict(target="NIB", half=1)), ("COMPUTE", dict(nbin_half=1)), True),  # NIBin is NBin's
    (("LOAD", dict(target="NBIN", half=0)), ("COMPUTE", dict(nbin_half=1)), False),
    (("LOAD", dict(target="LUT")), ("COMPUTE", dict()), True),    # a COMPUTE reads the LUTs
    (("LOAD", dict(target="BIAS", half=1)), ("LOAD", dict(target="BIAS", half=1)), True),  # WAW
    (("STORE", dict(half=0)), ("COMPUTE", dict(out_half=0)), True),                # WAR
    (("STORE", dict(half=0)), ("COMPUTE", dict(out_half=1)), False),
    (("STORE", dict(half=1)), ("LOAD", dict(target="SIB", fence=1)), True),        # memory
    (("STORE", dict(half=1)), ("LOAD", dict(target="SIB", fence=0)), False),
    (("SYNC", dict()), ("COMPUTE", dict()), False),
])
def test_scoreboard_rule_hand_worked(a, b, clash):
    fa, fb = decode(encode(a[0], **a[1]))[1], decode(encode(b[0], **b[1]))[1]
    assert conflict(*accesses(Op[a[0]], fa), *accesses(Op[b[0]], fb)) == clash
    assert conflict(*accesses(Op[b[0]], fb), *accesses(Op[a[0]], fa)) == clash


@pytest.mark.parametrize("kwargs, message", [
    (dict(tn=3), r"^tn must be a power of two in 1\.\.64, not 3$"),
    (dict(tm=1), r"^tm must be a power of two in 2\.\.64, not 1$"),
    (dict(tn=64, tm=2), r"^tn must be at most the window 16 \* tm = 32"),
    (dict(window_k=5), r"^window_k must be one of 4, 8, 16, not 5$"),
    (dict(tn=16, tm=2, window_k=4), r"^tn must be at most the window 4 \* tm = 8"),
    (dict(tm=4, window_k=4, mem_width=64),
     r"^mem_width must be a power of two in 32\.\.32, not 64$"),
    (dict(tm=4, window_k=8, mem_width=64),
     r"^mem_width must be a power of two in 32\.\.32, not 64$"),
    (dict(tm=2, mem_width=64), r"^mem_width must be a power of two in 32\.\.32, not 64$"),
    (dict(nbin_bytes=1000), r"^nbin_bytes must be a positive multiple of two rows of 512 bytes"),
    (dict(widths=(4, 12)), r"^widths must be a non-empty subset of \(4, 8, 16\)"),
    (dict(compact=1), r"^compact must be True or False, not 1$"),
    (dict(activations=("relu", "softmax")), r"^activations must be a non-empty list of "
                                            r"distinct values among 'identity', 'relu', "
                                            r"'sigmoid', 'tanh', not \('relu', 'softmax'\)$"),
    (dict(activations=()), r"^activations must be a non-empty list"),
    (dict(activations="relu"), r"^activations must be a non-empty list"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AccelConfig(**kwargs)


def test_thesis_and_small_configs():
    assert (THESIS.tn, THESIS.tm, THESIS.window) == (16, 16, 256)
    assert THESIS.sb_words == 32 * 1024 // 128 and THESIS.nbout_rows == 8 * 1024 // 32
    assert SMALL.window_rows == 16 and SMALL.groups_per_window == 16
    assert THESIS.speedup_bound == 16 and THESIS.window_k == 16


def test_window_k_scales_the_window_rows_and_bound():
    # Worked by hand: Tm = 8 at k = 4 is a 32-position window: a 64-byte NBin row,
    # a 4-byte bitmap row, a speed-up bound of 4; small_config keeps 16 windows in
    # NBin/NIBin and 64 in the SIB.
    cfg = small_config(4, 8, window_k=4)
    assert (cfg.window, cfg.nbin_row_bytes, cfg.bitmap_row_bytes) == (32, 64, 4)
    assert cfg.speedup_bound == 4 and cfg.groups_per_window == 8
    assert (cfg.window_rows, cfg.sib_rows, cfg.words["bitmap"]) == (16, 64, 1)
    assert small_config(4, 8).window == 128 and small_config(4, 8).as_dict()["window_k"] == 16
    # Tm = 2 at k = 4: an 8-position window, a 16-byte NBin row (four 32-bit words),
    # a 1-byte bitmap row that takes a whole memory word (zero-padded).
    cfg = small_config(2, 2, window_k=4)
    assert (cfg.window, cfg.nbin_row_bytes, cfg.bitmap_row_bytes) == (8, 16, 1)
    assert (cfg.words["bitmap"], cfg.words["nbin"], cfg.mem_width) == (1, 4, 32)
    assert split_words(0b1011_0001, 8, 32) == [0b1011_0001]
    assert split_words(0x1234_5678_9ABC, 48, 32) == [0x5678_9ABC, 0x1234]


def test_compact_from_the_command_line_and_the_icebreaker_profile():
    import argparse

    from golden.contract.config import add_config_arguments, config_from_args, profile_config
    p = argparse.ArgumentParser()
    add_config_arguments(p)
    assert config_from_args(p.parse_args(["--compact"])).compact is True
    assert config_from_args(p.parse_args([])).compact is False
    assert profile_config("icebreaker").compact and not profile_config("ulx3s").compact


# --- compiler and golden machine (pure Python: many cases) ------------------------------

@pytest.mark.parametrize("seed", range(14))
def test_golden_machine_equals_golden_inference(seed):
    rng = np.random.default_rng(seed)
    tn, tm, k = [(4, 4, 16), (2, 2, 16), (4, 2, 16), (2, 4, 16), (8, 4, 16), (1, 2, 16),
                 (4, 8, 4), (2, 4, 8)][seed % 8]
    sizes = [int(rng.integers(1, 90)) for _ in range(int(rng.integers(2, 4)))]
    bits = [4, 8, 16, 2][seed % 4]
    sparsity = [0.0, 0.5, 0.9, 0.99][seed % 4]
    region = None if seed % 3 else (8, 200)
    model = random_model(rng, sizes, sparsity, bits, region=region,
                         tn_align=tn if seed % 2 else None)
    x = random_inputs(rng, sizes[0], vectors=3, density=rng.random())
    cfg = small_config(tn, tm, window_k=k)
    ideal = {}
    for dense in (False, True):
        program = compile_model(model, cfg, x, dense=dense)
        out, machine = run_program(program)
        np.testing.assert_array_equal(out, infer(model, x),
                                      err_msg=f"seed {seed} dense {dense} tn {tn} tm {tm} k {k}")
        ideal[dense] = machine.stats["ideal"]
    # Dense: every position of every window pairs, W / tm = k cycles per window and group.
    per_vector = sum(-(-n_out // tn) * -(-n_in // (k * tm)) * k
                     for n_in, n_out in zip(sizes, sizes[1:]))
    assert ideal[True] == x.shape[0] * per_vector
    assert ideal[False] <= ideal[True]


def test_infer_through_the_module_golden_functions_equals_dense():
    rng = np.random.default_rng(3)
    model = random_model(rng, [50, 20, 9], 0.7, 4)
    x = random_inputs(rng, 50, vectors=3)
    np.testing.assert_array_equal(infer(model, x, method="modules", tn=4, tm=4), infer(model, x))


def test_par_marks_follow_the_resource_rules():
    rng = np.random.default_rng(4)
    model = random_model(rng, [200, 70, 10], 0.6, 4)
    program = compile_model(model, small_config(4, 4), random_inputs(rng, 200, vectors=3))
    ops = [decode(w) for w in program.words]
    assert sum(f.get("par", 0) for _, f in ops) > 0
    for (opa, fa), (opb, fb) in zip(ops, ops[1:]):
        if fb.get("par"):
            assert UNIT[opa] != UNIT[opb]
            assert not conflict(*accesses(opa, fa), *accesses(opb, fb))
        elif opa in UNIT and opb in UNIT and UNIT[opa] != UNIT[opb]:
            assert conflict(*accesses(opa, fa), *accesses(opb, fb))   # par where allowed
    assert ops[-1][0] == Op.END
    text = program.listing()
    assert "||" in text and "fc1: SB groups" in text


def test_weights_resident_across_vectors_when_they_fit():
    rng = np.random.default_rng(5)
    model = random_model(rng, [40, 12], 0.5, 4)
    program = compile_model(model, small_config(4, 4), random_inputs(rng, 40, vectors=4))
    loads = [decode(w)[1] for w in program.words if decode(w)[0] == Op.LOAD]
    assert sum(1 for f in loads if f["target"] == Target.SB) == 1  # one SB load, 4 vectors
    assert program.layers[0]["weights_resident"]


@pytest.mark.parametrize("change, message", [
    (lambda layers: layers.__setitem__(0, ("c", np.zeros((4, 2, 3, 3)), None, {})),
     r"layer 'c': kind 'conv' is not supported by the compiler \(fc; a conv layer runs as FC"),
    (lambda layers: layers.__setitem__(0, ("big", np.ones((4, 5000)), None, {})),
     r"layer 'big': 5000 inputs need 79 NSM windows of 64, but an NBin half holds 8 "
     r"\(parameter nbin_bytes/nibin_bytes\)"),
])
def test_compiler_rejects_what_it_cannot_map(change, message):
    layers = [("fc", np.ones((4, 8)), None, {})]
    change(layers)
    model, _ = compress_network(layers, CompressConfig(sparsity_fc=0.0, sparsity_conv=0.0,
                                                       steps=1, block_fc=(1, 1),
                                                       block_conv=(1, 1, 1, 1)))
    n_in = int(np.prod(layers[0][1].shape[1:]))
    with pytest.raises(CompileError, match=message):
        compile_model(model, small_config(4, 4), np.zeros((1, n_in), np.int16))


def test_compiler_rejects_bad_inputs():
    model = random_model(np.random.default_rng(0), [10, 4], 0.5, 4)
    with pytest.raises(CompileError, match=r"inputs must be a 2-D int16 array"):
        compile_model(model, small_config(4, 4), np.zeros((1, 10), np.float32))
    with pytest.raises(CompileError,
                       match=r"inputs have 11 values per vector; layer 'fc1' takes 10"):
        compile_model(model, small_config(4, 4), np.zeros((1, 11), np.int16))


def test_compile_cli(tmp_path):
    model = random_model(np.random.default_rng(1), [30, 8], 0.5, 4)
    save(model, tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", random_inputs(np.random.default_rng(1), 30))
    proc = subprocess.run([sys.executable, "-m", "golden.compile", tmp_path / "m.npz", "--tn",
                           "4", "--tm", "4", "--input", tmp_path / "x.npy", "-o", tmp_path / "o",
                           "--report"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "COMPUTE" in (tmp_path / "o" / "program.lst").read_text()
    summary = json.loads((tmp_path / "o" / "program.json").read_text())
    assert summary["ops"]["END"] == 1 and summary["config"]["tn"] == 4
    # --report: per layer the three strategies' words and the one chosen (program.json's)
    reuse = summary["layers"][0]["reuse"]
    t = reuse["traffic_words"]
    (line,) = [x.split() for x in proc.stdout.splitlines() if x.split()[:1] == ["fc1"]]
    assert line[1:6] == [str(summary["layers"][0]["chunks"]), str(t["input"]),
                         str(t["output"]), str(t["synapse"]), f"{reuse['strategy']}-reuse"]
    proc = subprocess.run([sys.executable, "-m", "golden.compile", tmp_path / "m.npz", "--tn",
                           "3", "-o", tmp_path / "o"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "python -m golden.compile: error: tn must be a power of two " \
                                  "in 1..64, not 3"


# --- the RTL in Amaranth simulation ---------------------------------------------------

RTL_CASES = [
    # (seed, tn, tm, sizes, sparsity, bits, dense, memory)
    (1, 4, 4, [70, 12, 6], 0.5, 4, False, MemoryModel(latency=3)),
    (2, 4, 4, [70, 12, 6], 0.5, 4, True, MemoryModel(latency=3)),
    (3, 4, 4, [45, 23], 0.9, 8, False, MemoryModel(latency=9, p_stall=0.3, seed=3)),
    (4, 4, 4, [33, 17, 5], 0.0, 16, False, MemoryModel(latency=1, interval=2, seed=4)),
    (5, 2, 2, [40, 9, 3], 0.7, 2, False, MemoryModel(latency=5, p_stall=0.2, seed=5)),
    (6, 4, 2, [150, 37], 0.99, 4, False, MemoryModel(latency=2)),
    (7, 2, 4, [100, 70, 10], 0.8, 4, False, MemoryModel(latency=4, p_stall=0.1, seed=7)),
    # (a wide hidden layer: fc1 runs in 5 chunks, fc2 reads 3 input windows)
    (8, 4, 4, [20, 150, 4], 0.6, 4, False, MemoryModel(latency=2, seed=8)),
    # The piecewise-linear activations in the PEFU's output stage.
    (9, 4, 4, [60, 20, 7], 0.5, 4, False, MemoryModel(latency=3), "sigmoid"),
    (10, 2, 4, [50, 30, 6], 0.3, 8, True, MemoryModel(latency=2), "tanh"),
]


@pytest.mark.parametrize("case", RTL_CASES, ids=[f"seed{c[0]}" for c in RTL_CASES])
def test_rtl_matches_golden_in_amaranth_simulation(case):
    seed, tn, tm, sizes, sparsity, bits, dense, memory, *act = case
    activation = act[0] if act else "relu"
    rng = np.random.default_rng(seed)
    model = random_model(rng, sizes, sparsity, bits, tn_align=tn if seed % 2 else None,
                         scale=1.0 if act else 0.3, activation=activation)
    x = random_inputs(rng, sizes[0], vectors=2, density=0.3 + 0.6 * rng.random())
    program = compile_model(model, small_config(tn, tm), x, dense=dense)
    expected, machine = run_program(program)
    got, counters, _ = run_accelerator(program, memory)
    np.testing.assert_array_equal(
        got, expected, err_msg=f"replay: seed={seed} tn={tn} tm={tm} sizes={sizes} "
                               f"sparsity={sparsity} bits={bits} dense={dense} memory={memory} "
                               f"activation={activation}")
    if act:     # the hidden layer's outputs really went through the table
        hidden = program.activations[0][1]
        h = decode_vector(machine.mem, hidden, program.cfg)
        lo, hi = (0, 256) if activation == "sigmoid" else (-256, 256)
        assert h.min() >= lo and h.max() <= hi and len(np.unique(h)) > 5
    # The PEs took exactly the SSM steps the golden model counts.
    assert counters["steps"] == machine.stats["steps"]
    assert counters["compute_cycles"] >= machine.stats["ideal"]
    assert counters["mem_writes"] > 0 and counters["cycles"] > 0


def test_rtl_decodes_rows_that_span_regions_through_a_merged_table():
    # fc1's regions are the two halves of its 70 inputs: one COMPUTE decodes a
    # row with one table, so the compiler merges the regions' codebooks into it
    # (8-bit indices instead of raw int16); the RTL's outputs are the model's,
    # and the performance model's cycles the RTL's.
    rng = np.random.default_rng(61)
    model = random_model(rng, [70, 12, 6], 0.5, 4, region=(4, 35))
    x = random_inputs(rng, 70, vectors=2)
    program = compile_model(model, small_config(4, 4), x)
    fc1 = program.layers[0]
    assert fc1["merged_regions"] == len(model.layers[0].codebooks) > 1
    assert fc1["slot"] in (4, 8) and fc1["raw_reason"] is None
    expected, machine = run_program(program)
    np.testing.assert_array_equal(expected, infer(model, x))
    got, counters, _ = run_accelerator(program, MemoryModel(latency=3))
    np.testing.assert_array_equal(got, expected, err_msg="replay: seed=61 region=(4, 35)")
    assert counters["steps"] == machine.stats["steps"]
    p = perfmodel.predict(program, {"latency": 3})
    assert (p["cycles"], p["compute_cycles"]) == (counters["cycles"], counters["compute_cycles"])


def test_next_compute_is_taken_while_the_one_before_still_feeds():
    # The compute unit takes a COMPUTE as soon as the one before has handed its
    # first window on; it reads ahead and hands its first window on the cycle
    # after the slice's front has run empty.  So some COMPUTE is taken before
    # the one before has reached its drain (before, none was taken earlier than
    # ``drain`` cycles before the previous one's end); every instruction's
    # interval is still the performance model's.
    rng = np.random.default_rng(52)
    model = random_model(rng, [90, 40, 6], 0.7, 4, block=(4, 4))
    x = random_inputs(rng, 90, vectors=3, density=0.5)
    program = compile_model(model, small_config(4, 4), x)
    trace = []
    got, counters, _ = run_accelerator(program, MemoryModel(latency=3), trace=trace)
    np.testing.assert_array_equal(got, run_program(program)[0])
    computes = [(a, b) for u, a, b in trace if u == "compute"]
    drain = perfmodel.TIMING.drain(4, 4)
    assert min(n[0] - (p[1] - drain) for p, n in zip(computes, computes[1:])) < 0
    p = perfmodel.predict(program, {"latency": 3})
    assert p["cycles"] == counters["cycles"]
    for u in perfmodel.UNITS:
        mine = [(int(e["issue"]) + 1, int(e["end"])) for e in p["timeline"] if e["unit"] == u]
        assert mine == [(a, b) for v, a, b in trace if v == u], f"unit {u}"


@pytest.mark.parametrize("tn, tm, k, skip_seed", [(4, 8, 4, 41), (2, 4, 8, 42), (2, 2, 4, 43),
                                                   (1, 2, 8, 44)])
def test_rtl_with_a_smaller_nsm_window(tn, tm, k, skip_seed):
    # The window is k * tm positions (issue: small parts): 5 windows less 10
    # inputs (32: 150 inputs; 8 and 16: windows narrower than a memory word, whose
    # bitmaps take a word each), and the shared bitmaps are random blocks of whole
    # windows (some groups skip windows through the SIB masks).
    W = k * tm
    n_in = 5 * W - min(10, W // 2)
    rng = np.random.default_rng(skip_seed)
    mask = rng.random((3, 5)) < 0.6
    mask[1] = False
    model = random_sparse_fc(rng, n_in, 3 * tn, None, 4, block=(tn, W), block_mask=mask)
    x = random_inputs(rng, n_in, vectors=2, density=0.5)
    cfg = small_config(tn, tm, window_k=k)
    for dense in (False, True):
        program = compile_model(model, cfg, x, dense=dense)
        expected, machine = run_program(program)
        np.testing.assert_array_equal(expected, infer(model, x))
        got, counters, _ = run_accelerator(program, MemoryModel(latency=3))
        np.testing.assert_array_equal(got, expected, err_msg=f"replay: tn={tn} tm={tm} k={k} "
                                                             f"seed={skip_seed} dense={dense}")
        assert counters["steps"] == machine.stats["steps"]
        p = perfmodel.predict(program, {"latency": 3})
        assert (p["cycles"], p["compute_cycles"]) == (counters["cycles"],
                                                      counters["compute_cycles"])
        steps = perfmodel.work(program)
        fed = sum(s.windows for s in steps if s.op == Op.COMPUTE)
        if dense:     # every window of every group, k cycles each
            assert fed == 2 * 3 * 5 and machine.stats["ideal"] == 2 * 3 * 5 * k
        else:         # per group the windows holding a synapse, at least one
            assert fed == 2 * sum(max(1, int(row.sum())) for row in mask)


@pytest.mark.parametrize("seed, tn, tm, dense, k", [(51, 2, 2, False, 16), (52, 4, 4, False, 16),
                                                    (53, 2, 4, True, 16), (54, 2, 2, False, 4)])
def test_compact_datapath_computes_the_same_in_the_models_cycles(seed, tn, tm, dense, k):
    # ``compact`` (small parts) drops register slices, skid registers and the
    # PEFU's operand register: the same outputs, bit for bit, the same words
    # moved and SSM steps, under memory stalls; and without stalls, each
    # instruction's interval the performance model's, which follows the shorter
    # PEFU (a COMPUTE's fill and drain a cycle less).
    rng = np.random.default_rng(seed)
    model = random_model(rng, [90, 40, 6], 0.7, 4, block=(tn, tm))
    x = random_inputs(rng, 90, vectors=3, density=0.5)
    runs = []
    for compact in (False, True):
        replay = f"replay: seed={seed} tn={tn} tm={tm} dense={dense} k={k} compact={compact}"
        program = compile_model(model, small_config(tn, tm, compact=compact, window_k=k), x,
                                dense=dense)
        got, counters, _ = run_accelerator(program, MemoryModel(latency=3, p_stall=0.3,
                                                                seed=seed))
        np.testing.assert_array_equal(got, run_program(program)[0], err_msg=replay)
        runs.append({c: counters[c] for c in ("steps", "mem_reads", "mem_writes")})
        trace = []
        _, counters, _ = run_accelerator(program, MemoryModel(latency=3), trace=trace)
        p = perfmodel.predict(program, {"latency": 3})
        assert (p["cycles"], p["compute_cycles"]) == (counters["cycles"],
                                                      counters["compute_cycles"]), replay
        for u in perfmodel.UNITS:
            mine = [(int(e["issue"]) + 1, int(e["end"])) for e in p["timeline"] if e["unit"] == u]
            assert mine == [(a, b) for v, a, b in trace if v == u], f"unit {u}; {replay}"
    assert runs[0] == runs[1] and runs[0]["steps"] > 0, f"replay: seed={seed} tn={tn} tm={tm} k={k}"


def _random_compact_case(seed):
    """``(seed, tn, tm, k, latency, dense)`` of a random compact program."""
    rng = np.random.default_rng(seed)
    tn, tm = [(2, 2), (2, 4), (4, 4), (1, 2), (4, 2)][int(rng.integers(5))]
    k = int(rng.choice([k for k in (4, 8, 16) if k * tm >= tn]))
    return (int(rng.integers(1 << 30)), tn, tm, k, int(rng.integers(1, 7)),
            bool(rng.random() < 0.3))


@pytest.mark.parametrize("seed, tn, tm, k, latency, dense", [
    # two programs on which a register slice at the NSM's output (in place of its
    # skid buffer) made the compact machine a cycle slower than the model: the
    # NSM's stages move on only when the sequencer takes a beat
    (815753307, 2, 2, 4, 6, False), (873631283, 1, 2, 8, 6, False),
    *(_random_compact_case(s) for s in (1, 2)),
    *(pytest.param(*_random_compact_case(s), marks=pytest.mark.slow) for s in range(3, 11))])
def test_compact_machine_is_the_models_on_random_programs(seed, tn, tm, k, latency, dense):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(20, 120)), int(rng.integers(8, 60)), int(rng.integers(2, 12))]
    model = random_model(rng, sizes, float(rng.uniform(0.3, 0.95)), 4, block=(tn, tm))
    x = random_inputs(rng, sizes[0], vectors=int(rng.integers(1, 5)),
                      density=float(rng.uniform(0.2, 0.9)))
    program = compile_model(model, small_config(tn, tm, compact=True, window_k=k), x, dense=dense)
    trace = []
    got, counters, _ = run_accelerator(program, MemoryModel(latency=latency), trace=trace)
    replay = (f"replay: seed={seed} tn={tn} tm={tm} k={k} latency={latency} dense={dense} "
              f"sizes={sizes}")
    np.testing.assert_array_equal(got, run_program(program)[0], err_msg=replay)
    p = perfmodel.predict(program, {"latency": latency})
    assert p["cycles"] == counters["cycles"], replay
    for u in perfmodel.UNITS:
        mine = [(int(e["issue"]) + 1, int(e["end"])) for e in p["timeline"] if e["unit"] == u]
        assert mine == [(a, b) for v, a, b in trace if v == u], f"unit {u}; {replay}"


def test_multi_issue_happens():
    rng = np.random.default_rng(11)
    model = random_model(rng, [200, 130, 10], 0.6, 4)
    program = compile_model(model, small_config(4, 4), random_inputs(rng, 200, vectors=3))
    got, counters, _ = run_accelerator(program, MemoryModel(latency=2))
    np.testing.assert_array_equal(got, run_program(program)[0])
    assert counters["dual_issues"] > 0


def test_rtl_skips_windows_without_synapses():
    # Tn = Tm = 2: NSM windows of 32 inputs, 1100 inputs = 35 windows, two mask
    # segments per group (32 + 3 windows).  Group 0 has synapses in windows 0
    # and 34, group 1 none at all, group 2 only in window 5 (its second segment
    # is empty), group 3 in about half of them.
    tn, tm, n_in, W = 2, 2, 1100, 32
    rng = np.random.default_rng(31)
    mask = np.zeros((4, 35), dtype=bool)
    mask[0, [0, 34]] = True
    mask[2, 5] = True
    mask[3] = rng.random(35) < 0.5
    model = random_sparse_fc(rng, n_in, 8, None, 4, block=(tn, W), block_mask=mask)
    x = random_inputs(rng, n_in, vectors=2, density=0.5)
    cfg = small_config(tn, tm, nbin_bytes=2 * 35 * 2 * W, nibin_bytes=2 * 35 * W // 8,
                       sib_bytes=2 * 64 * W // 8)
    program = compile_model(model, cfg, x)
    # First principles: per segment the windows holding a synapse, at least one.
    fed = sum(max(1, int(row[s:s + W].sum())) for row in mask for s in (0, W))
    loads = [f for op, f in map(decode, program.words)
             if op == Op.LOAD and f["target"] == Target.SIB]
    assert sum(f["count"] for f in loads) == 4 * 2 + fed      # mask rows + fed rows
    assert all(f["skip"] for op, f in map(decode, program.words) if op == Op.COMPUTE)
    got, counters, _ = run_accelerator(program, MemoryModel(latency=3))
    np.testing.assert_array_equal(got, infer(model, x))
    steps = perfmodel.work(program)
    # The fed windows' cycles (each at least one) plus a cycle per skipped window
    # would be a lower bound if the skipped windows cost a cycle: they do not.
    skipped = x.shape[0] * (4 * 35 - fed)
    fed_cycles = sum(s.extra["window_cycles"] for s in steps if s.op == Op.COMPUTE)
    assert counters["compute_cycles"] < fed_cycles + skipped
    assert sum(s.windows for s in steps if s.op == Op.COMPUTE) == x.shape[0] * fed
    p = perfmodel.predict(program, {"latency": 3}, steps=steps)
    assert (p["cycles"], p["compute_cycles"]) == (counters["cycles"], counters["compute_cycles"])


def test_no_window_masks_where_no_window_is_empty():
    # Dense weights: every window holds a synapse, so mask rows would only take
    # SIB room; the compiler stores every window's row and clears ``skip``.
    rng = np.random.default_rng(4)
    model = random_model(rng, [100, 12], 0.0, 4, block=(4, 4))
    x = random_inputs(rng, 100, vectors=1)
    program = compile_model(model, small_config(4, 4), x)
    words = [decode(w) for w in program.words]
    assert not any(f["skip"] for op, f in words if op == Op.COMPUTE)
    sib = sum(f["count"] for op, f in words if op == Op.LOAD and f["target"] == Target.SIB)
    assert sib == 3 * 2      # 12 outputs = 3 groups, 100 inputs = 2 windows of 64
    np.testing.assert_array_equal(run_program(program)[0], infer(model, x))


# --- the generated Verilog under cocotb, through tb.run --------------------------------

@pytest.mark.cocotb
@pytest.mark.parametrize("dense, extra", [(False, []), (True, []),
                                          (False, ["--tn", "2", "--window-k", "8"])],
                         ids=["sparse", "dense", "sparse-2x4-k8"])
def test_tb_run_bit_exact_on_verilog(tmp_path, dense, extra):
    rng = np.random.default_rng(21)
    model = random_model(rng, [70, 13, 5], 0.7, 4)
    save(model, tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", random_inputs(rng, 70, vectors=2))
    args = [sys.executable, "-m", "tb.run", tmp_path / "m.npz", "--input", tmp_path / "x.npy",
            "--tn", "4", "--tm", "4", "--output", tmp_path / "y.npy", "--json", tmp_path / "r.json",
            "--latency", "6", "--p-stall", "0.2"] + (["--dense"] if dense else []) + extra
    proc = subprocess.run(args, capture_output=True, text=True,
                          env={**__import__("os").environ, "SPARSEGEN_BUILD": str(tmp_path / "b")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    for key in ("bit_exact", "cycles", "compute_cycles", "stall_cycles", "ideal_cycles"):
        assert key in result
    assert result["bit_exact"] is True
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, infer(model, np.load(tmp_path / "x.npy")))
    assert y.dtype == np.int16 and y.shape == (2, 5)


@pytest.mark.cocotb
def test_tb_run_reports_a_mismatch(tmp_path, monkeypatch):
    # A model whose file says one thing and a golden model that says another is
    # not possible through the CLI; instead corrupt the RTL's view: run_model with
    # a program whose memory the testbench alters is overkill, so check the error
    # path on bad arguments and the mismatch path on a doctored result.
    from tb import run as tbrun
    from tb.runner import default_sim
    rng = np.random.default_rng(22)
    model = random_model(rng, [30, 6], 0.5, 4)
    x = random_inputs(rng, 30, vectors=1)
    # A relative build directory (the simulator runs elsewhere: paths must resolve).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPARSEGEN_BUILD", "b")
    real = tbrun.simulate

    def doctored(*args, **kwargs):
        out = real(*args, **kwargs)
        path = tmp_path / "b" / "run" / f"4x4-sparse-{default_sim()}" / "result.json"
        res = json.loads(path.read_text())
        # flip one written word: some output changes
        addr = max(res["written"], key=int)
        res["written"][addr] = str(int(res["written"][addr]) ^ 0x3)
        path.write_text(json.dumps(res))
        return out
    monkeypatch.setattr(tbrun, "simulate", doctored)
    res = tbrun.run_model(model, x, small_config(4, 4))
    assert res["bit_exact"] is False
    assert res["mismatch"].startswith("layer 'fc1', vector 0, output ")


@pytest.mark.cocotb
def test_tb_run_cli_errors(tmp_path):
    model = random_model(np.random.default_rng(0), [10, 4], 0.5, 4)
    save(model, tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", np.zeros((1, 10), np.float64))
    proc = subprocess.run([sys.executable, "-m", "tb.run", tmp_path / "m.npz", "--input",
                           tmp_path / "x.npy"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "must be a 2-D int16 array" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.cocotb
def test_tb_run_thesis_tn_tm_16(tmp_path):
    rng = np.random.default_rng(31)
    model = random_model(rng, [300, 40], 0.8, 4, block=(16, 16))
    x = random_inputs(rng, 300, vectors=1)
    from tb.run import run_model
    res = run_model(model, x, small_config(16, 16), workdir=tmp_path)
    assert res["bit_exact"], res["mismatch"]
