"""The same cocotb testbenches on Verilator (the second simulator): a fast subset
here; `make regress SIM=verilator` runs the whole matrix on it."""

import numpy as np
import pytest

from tb.runner import run, waveform

pytestmark = pytest.mark.cocotb


@pytest.mark.parametrize("module, params", [
    ("pefu", {"tm": 4}),
    pytest.param("nsm", {"tm": 4}, marks=pytest.mark.slow),       # the C++ builds take a
    pytest.param("encoder", {"tn": 4}, marks=pytest.mark.slow),   # while: make test-slow
])
def test_module_on_verilator(module, params, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEGEN_BUILD", str(tmp_path))
    results = run(module, params, seeds=(1, 2), sim="verilator")
    assert all(r.parent.name.startswith("seed") for r in results)
    assert "verilator" in str(results[0])


def test_verilator_waveform(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEGEN_BUILD", str(tmp_path))
    results = run("htree", {"tn": 2, "tm": 4}, seed=3, sim="verilator", waves=True,
                  knobs={"beats": 5})
    wave = waveform(results, "htree")
    assert wave.suffix == ".vcd" and wave.stat().st_size > 0


def test_accelerator_on_verilator_equals_icarus(tmp_path):
    # The whole accelerator, the same program on both simulators: both bit-exact
    # with the golden model and cycle for cycle the same machine.
    from golden.compiler import small_config
    from golden.data.synthetic import random_inputs, random_model
    from tb.run import run_model
    rng = np.random.default_rng(5)
    model = random_model(rng, [40, 9, 4], 0.6, 4)
    x = random_inputs(rng, 40, vectors=1)
    res = {sim: run_model(model, x, small_config(2, 2), sim=sim, workdir=tmp_path / sim,
                          memory={"latency": 3, "p_stall": 0.25})
           for sim in ("icarus", "verilator")}
    for sim, r in res.items():
        assert r["bit_exact"], f"{sim}: {r['mismatch']}"
    assert res["icarus"]["cycles"] == res["verilator"]["cycles"]
    np.testing.assert_array_equal(res["icarus"]["outputs"], res["verilator"]["outputs"])
