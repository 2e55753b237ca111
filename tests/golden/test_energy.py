"""Event counts (golden.perf.events) and energy (golden.energy): against first
principles (what a dense layer must move and compute), against the dense
program's own traffic, and the energy table's rules.  The counts against the
RTL's counters: tests/golden/test_perfmodel.py."""

import json
import math

import numpy as np
import pytest

from golden.compiler import compile_model, small_config
from golden.contract.isa import Op, Target, decode
from golden.contract.model import decompress
from golden.data.synthetic import random_inputs, random_model, random_sparse_fc
from golden.energy import (
    COMPONENTS,
    DEFAULT_TABLE,
    ENTRIES,
    EnergyTableError,
    breakdown,
    dense_neurons,
    energy_summary,
    load_table,
    main,
    program_energy,
    sram_pj,
    with_width,
)
from golden.perf.events import BUFFERS, EVENTS, events
from golden.perf.perfmodel import work


@pytest.mark.parametrize("tn, tm, n_in, n_out, vectors", [(2, 2, 70, 5, 1), (4, 2, 32, 8, 2),
                                                          (2, 4, 130, 3, 3)])
def test_dense_layer_counts_from_first_principles(tn, tm, n_in, n_out, vectors):
    # Dense mode, raw 16-bit weights: every (padded) weight is read once per
    # vector, every position of every window multiplied by every PE.
    cfg = small_config(tn, tm)
    W = cfg.window
    rng = np.random.default_rng(tn * 10 + tm)
    model = random_sparse_fc(rng, n_in, n_out, 1.0, 16, block=(1, 1))
    x = random_inputs(rng, n_in, vectors=vectors)
    program = compile_model(model, cfg, x, dense=True)
    t = events(program)["total"]
    windows, groups = -(-n_in // W), -(-n_out // tn)
    positions = windows * W * groups * tn * vectors          # padded weights x vectors
    assert t["multiplies"] == positions
    assert t["steps"] == windows * (W // tm) * groups * vectors
    assert t["sb_read_bits"] == 16 * positions
    assert t["nbin_read_bits"] == 16 * W * windows * groups * vectors
    assert t["lut_read_bits"] == t["lut_write_bits"] == 0     # raw weights: no table
    assert t["nibin_read_bits"] == t["sib_read_bits"] == 0    # dense: no bitmaps
    assert t["nbout_write_bits"] == 16 * tn * groups * vectors
    assert t["bias_read_bits"] == 32 * tn * groups * vectors
    out_windows = -(-groups * tn // W)
    assert t["offchip_write_words"] == out_windows * 16 * W // cfg.mem_width * vectors
    assert t["encoder_positions"] == 0
    # Every instruction read once from the IB, written once by the fetch.
    n = len(program.words)
    assert t["ib_write_bits"] == 128 * n
    assert t["ib_read_bits"] == 128 * sum(1 for s in events(program)["instructions"])


@pytest.mark.parametrize("bits", [4, 8])
def test_table_reads_and_writes_from_first_principles(bits):
    # All weights and all inputs nonzero (sparse mode): every position is a
    # pair, a window of p pairs takes ceil(p / tm) NSM beats, and each PE's WDM
    # decodes tm codes per beat (16 bits each).  A LUT LOAD writes each of its
    # 2**bits entries into the tm lanes' copies of its PE's table (of every PE's
    # with ``broadcast``).
    tn, tm, n_in, n_out, vectors = 2, 4, 70, 5, 2
    cfg = small_config(tn, tm)
    W = cfg.window
    rng = np.random.default_rng(bits)
    model = random_sparse_fc(rng, n_in, n_out, 1.0, bits, block=(1, 1))
    x = random_inputs(rng, n_in, vectors=vectors, density=1.0)
    x[x == 0] = 1
    program = compile_model(model, cfg, x)
    ev = events(program)
    pairs = [min(W, n_in - w) for w in range(0, n_in, W)]
    beats = sum(-(-p // tm) for p in pairs) * -(-n_out // tn) * vectors
    assert ev["total"]["lut_read_bits"] == 16 * beats * tn * tm
    lut_loads = sum(1 for r in ev["instructions"]
                    if r["op"] == Op.LOAD.name and r["events"]["lut_write_bits"])
    assert lut_loads >= 1
    tables = [f for op, f in map(decode, program.words)
              if op == Op.LOAD and f["target"] == Target.LUT]
    assert len(tables) == lut_loads
    copies = sum(tn if f["broadcast"] else 1 for f in tables)
    assert ev["total"]["lut_write_bits"] == copies * (1 << bits) * tm * 16


def test_layers_sum_to_the_total_and_name_the_program_layers():
    rng = np.random.default_rng(3)
    model = random_model(rng, [80, 30, 6], 0.6, 4, block=(4, 4))
    program = compile_model(model, small_config(4, 4), random_inputs(rng, 80, vectors=2))
    ev = events(program)
    assert set(ev["layers"]) == {"program", "fc1", "fc2"}
    for k in EVENTS:
        assert sum(layer[k] for layer in ev["layers"].values()) == ev["total"][k], k
    assert ev["layers"]["fc1"]["multiplies"] > 0 and ev["layers"]["fc2"]["multiplies"] > 0
    assert ev["layers"]["program"]["multiplies"] == 0
    # Each layer's multiplies: its COMPUTEs' steps x Tn x Tm.
    for name in ("fc1", "fc2"):
        steps = sum(r["events"]["steps"] for r in ev["instructions"]
                    if r["layer"] == name and r["op"] == Op.COMPUTE.name)
        assert ev["layers"][name]["multiplies"] == steps * 16


def test_dense_neuron_figures_equal_the_dense_programs_traffic():
    # What the Encoder ablation assumes a dense neuron costs is what dense mode
    # really moves for the same layer's inputs (NBin rows) and outputs (STOREs).
    rng = np.random.default_rng(5)
    model = random_model(rng, [90, 40], 0.5, 4, block=(4, 4))
    x = random_inputs(rng, 90, vectors=2, density=0.3)
    # (an SB that holds the dense weights too: both programs load each input once;
    # under synapse reuse an input is loaded once per chunk, and raw weights take more)
    cfg = small_config(4, 4, sb_bytes=8192)
    sp_prog = compile_model(model, cfg, x)
    sp = events(sp_prog)["total"]
    de_prog = compile_model(model, cfg, x, dense=True, tilings=sp_prog.tilings)
    assert [la["chunks"] for la in sp_prog.layers] == [la["chunks"] for la in de_prog.layers]
    stores = sum(s.words for s in work(de_prog) if s.op == Op.STORE)
    de = events(de_prog)["total"]
    assert sp["neuron_write_words_dense"] == stores == de["neuron_write_words"]
    assert sp["neuron_read_words_dense"] == de["neuron_read_words"]
    # At 30 % density the compressed neurons move fewer words.
    assert sp["neuron_read_words"] < sp["neuron_read_words_dense"]
    nd = dense_neurons(sp)
    moved = (sp["neuron_read_words_dense"] - sp["neuron_read_words"]
             + sp["neuron_write_words_dense"] - sp["neuron_write_words"])
    assert nd["offchip_read_words"] + nd["offchip_write_words"] == \
        sp["offchip_read_words"] + sp["offchip_write_words"] + moved
    assert nd["encoder_positions"] == 0 < sp["encoder_positions"]


def test_energy_is_the_sum_of_counts_times_the_table():
    rng = np.random.default_rng(6)
    model = random_model(rng, [64, 20], 0.5, 4, block=(4, 4))
    program = compile_model(model, small_config(4, 4), random_inputs(rng, 64))
    t = events(program)["total"]
    table = load_table()
    b = breakdown(t, program.cfg, table)
    assert set(b["components"]) == set(COMPONENTS)
    assert math.isclose(sum(b["components"].values()), b["total_pj"])
    mw = program.cfg.mem_width
    assert math.isclose(b["components"]["offchip"],
                        (t["offchip_read_words"] + t["offchip_write_words"]) * mw / 32 * 640.0)
    assert math.isclose(b["components"]["multiply"], t["multiplies"] * 3.1 / 4)
    # Doubling one entry doubles exactly its component, nothing else.
    t2 = json.loads(json.dumps(table))
    t2["entries"]["dram_32b"]["pj"] *= 2
    b2 = breakdown(t, program.cfg, t2)
    assert math.isclose(b2["total_pj"] - b["total_pj"], b["components"]["offchip"])
    # Shares: off-chip of the total, buffers of the on-chip part.
    onchip = b["total_pj"] - b["components"]["offchip"]
    assert math.isclose(b["offchip_share"], b["components"]["offchip"] / b["total_pj"])
    assert math.isclose(b["onchip_buffer_share"],
                        sum(b["components"][k] for k in BUFFERS) / onchip)
    pe = program_energy(program)
    assert math.isclose(sum(v["energy"]["total_pj"] for v in pe["layers"].values()),
                        pe["energy"]["total_pj"])


def test_sram_energy_follows_the_source_points_and_scaling():
    t = load_table()
    assert math.isclose(sram_pj(t, 8 * 1024), 10.0) and math.isclose(sram_pj(t, 32 * 1024), 20.0)
    assert math.isclose(sram_pj(t, 1 << 20), 100.0) and sram_pj(t, 1 << 24) == 100.0
    assert math.isclose(sram_pj(t, 16 * 1024), 10 * math.sqrt(2))   # log-log: sqrt between
    assert math.isclose(sram_pj(t, 2 * 1024), 5.0)                   # the same slope below
    assert sram_pj(t, 16) == 2 * t["entries"]["regfile_32b"]["pj"]   # the register-file floor
    sizes = [16, 256, 1024, 4096, 8192, 20000, 32768, 100000, 1 << 20]
    e = [sram_pj(t, s) for s in sizes]
    assert e == sorted(e)


def test_table_file_replaces_named_entries_and_rejects_bad_ones(tmp_path):
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"name": "mine", "entries": {
        "dram_32b": 100, "sram_64b_8kb": {"pj": 4.0, "source": "my paper"}}}))
    t = load_table(f)
    assert t["name"] == "mine"
    assert t["entries"]["dram_32b"]["pj"] == 100.0
    assert t["entries"]["dram_32b"]["source"] == str(f)
    assert t["entries"]["sram_64b_8kb"] == {**DEFAULT_TABLE["entries"]["sram_64b_8kb"],
                                            "pj": 4.0, "source": "my paper"}
    for k in ENTRIES:
        if k not in ("dram_32b", "sram_64b_8kb"):
            assert t["entries"][k] == DEFAULT_TABLE["entries"][k]
    assert load_table() == json.loads(json.dumps(DEFAULT_TABLE))    # the default untouched
    for bad, message in (({"entries": {"dram": 1}}, "unknown entry 'dram'"),
                         ({"entries": {"add_32b": 0}}, "'add_32b' must be a positive"),
                         ({"entries": {"add_32b": True}}, "'add_32b' must be a positive"),
                         ({"entries": {"add_32b": "1"}}, "'add_32b' must be a positive"),
                         ({"entries": {"add_32b": {"pj": 1, "watts": 2}}}, "unknown field"),
                         ({"entries": []}, "'entries' must be an object"),
                         ({"table": {}}, "unknown field"), ([1, 2], "expected an object"),
                         ({"name": ""}, "'name' must be a non-empty string")):
        f.write_text(json.dumps(bad))
        with pytest.raises(EnergyTableError, match=message):
            load_table(f)
    f.write_text('{"entries": {"add_32b": NaN}}')
    with pytest.raises(EnergyTableError, match="'add_32b' must be a positive"):
        load_table(f)


def test_wider_slots_hold_the_same_weights_and_cost_more_sb_bits():
    rng = np.random.default_rng(8)
    model = random_model(rng, [70, 24, 8], 0.5, 4, block=(4, 4))
    x = random_inputs(rng, 70, vectors=2)
    cfg = small_config(4, 4)
    want = [d["weight"] for d in decompress(model)]
    counts = {}
    for bits in (4, 8, 16):
        wide = with_width(model, bits)
        assert all(layer.slot == bits for layer in wide.layers)
        assert all(np.array_equal(d["weight"], w) for d, w in zip(decompress(wide), want))
        counts[bits] = events(compile_model(wide, cfg, x))["total"]
    assert counts[4]["sb_read_bits"] < counts[8]["sb_read_bits"] < counts[16]["sb_read_bits"]
    assert counts[16]["lut_read_bits"] == counts[16]["lut_write_bits"] == 0
    assert counts[4]["multiplies"] == counts[16]["multiplies"]      # the same work
    with pytest.raises(ValueError, match="cannot be narrowed to 4 bits"):
        with_width(with_width(model, 8), 4)
    with pytest.raises(ValueError, match="bits must be 4, 8 or 16"):
        with_width(model, 5)


def test_summary_is_per_inference():
    rng = np.random.default_rng(9)
    model = random_model(rng, [40, 12], 0.5, 4, block=(4, 4))
    x = random_inputs(rng, 40, vectors=4)
    cfg = small_config(4, 4)
    halves = [compile_model(model, cfg, x[:2]), compile_model(model, cfg, x[2:])]
    s = energy_summary(halves, per=4)
    both = [events(p)["total"] for p in halves]
    assert s["events"]["multiplies"] == sum(b["multiplies"] for b in both)
    assert math.isclose(s["total_pj"] * 4, sum(breakdown(b, cfg)["total_pj"] for b in both))
    assert s["dense_neurons_pj"] > 0


def test_command_line_prints_and_writes_the_breakdown(tmp_path, capsys):
    from golden.contract.model import save
    rng = np.random.default_rng(10)
    save(random_model(rng, [40, 12], 0.5, 4, block=(4, 4)), tmp_path / "m.npz")
    assert main(["--print-table"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(DEFAULT_TABLE))
    assert main([str(tmp_path / "m.npz"), "--vectors", "3", "--json",
                 str(tmp_path / "e.json")]) == 0
    text = capsys.readouterr().out
    data = json.loads((tmp_path / "e.json").read_text())
    assert f"{data['total_pj'] / 1e3:.2f} nJ" in text and "off-chip share" in text
    assert data["per_inference_of"] == 3 and data["table"] == "horowitz-45nm"
    assert math.isclose(sum(data["components"].values()), data["total_pj"])
