"""The generated PEFU Verilog under cocotb (Icarus) against golden.twins.pefu."""

import pytest

from tb.runner import CocotbFailure, default_sim, run, waveform

pytestmark = pytest.mark.cocotb

SEEDS = (1, 2, 3)


@pytest.mark.parametrize("tm", [2, 4, 16])
def test_pefu_verilog_matches_golden(tm):
    # Built once, run with every seed; a failure names each failing seed's replay.
    run("pefu", {"tm": tm}, seeds=SEEDS, knobs={"outputs": 40})


def test_waves_written_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEGEN_BUILD", str(tmp_path))
    results = run("pefu", {"tm": 2}, seed=9, waves=True, knobs={"outputs": 3})
    # Icarus dumps into the build directory, Verilator into the seed's.
    assert waveform(results, "pefu").stat().st_size > 0


def test_failure_names_seed_config_and_replay(tmp_path, monkeypatch):
    # Stall probability 0 on the consumer means nothing ever comes out: the
    # testbench must fail and the runner must say how to replay it.
    monkeypatch.setenv("SPARSEGEN_BUILD", str(tmp_path))
    with pytest.raises(CocotbFailure) as info:
        run("pefu", {"tm": 2}, seeds=[4, 5], knobs={"outputs": 2, "p_ready": 0.0})
    message = str(info.value)
    for seed in (4, 5):
        assert f"seed={seed}" in message
        assert (f"replay: python -m tb.runner pefu --tm 2 --seed {seed} --sim {default_sim()}"
                in message)
    assert "only 0 of 2 payloads" in message
