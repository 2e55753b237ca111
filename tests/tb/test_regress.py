"""The regression driver (tb.regress): its matrix, a case's record and replay
command, the summary's coverage accounting, and a small matrix end to end."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from hdl.registry import registry
from tb import regress
from tb.sim.coverage import REQUIRED


def test_matrix_covers_every_testbench_and_ids_are_unique():
    quick, full = regress.matrix("quick"), regress.matrix("full")
    for cases in (quick, full):
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids))
    assert {c.id for c in quick} < {c.id for c in full}
    modules = {c.module for c in full}
    # Every module with required coverage, and the accelerator, is in the matrix.
    assert set(REQUIRED) <= modules and "top" in modules
    assert modules <= set(registry())
    # The matrix spans Tn/Tm, every weight width and buffer sizes at the top.
    top = [c.params for c in full if c.kind == "top"]
    assert {p["bits"] for p in top} >= {4, 8, 16}
    assert any(p["buffers"] for p in top) and any(p["dense"] for p in top)
    assert {p["buffers"].get("window_k", 16) for p in top} == {4, 8, 16}
    assert {c.params.get("tm") for c in full if c.module == "pefu"} == {2, 4, 16}


def test_matrix_rejects_bad_names():
    with pytest.raises(ValueError, match="preset must be one of quick, full"):
        regress.matrix("huge")
    with pytest.raises(ValueError, match="unknown module.*nope"):
        regress.matrix("quick", ["nope"])


def _record(module, bins, status="passed"):
    return {"id": f"{module}-x", "module": module, "kind": "module", "params": {}, "seeds": [1],
            "sim": "icarus", "status": status, "seconds": 1.0, "failures": [], "bins": bins}


def test_summary_sums_coverage_and_marks_missed_corners(tmp_path):
    required = REQUIRED["wdm"]
    # Two cases of the same module: the bins add up; one required bin never hit.
    a = {b: 1 for b in required[:-1]}
    b = {required[0]: 2, "extra": 5}
    s = regress.summarize([_record("wdm", a), _record("wdm", b)], tmp_path, preset="quick")
    cov = s["coverage"]["wdm"]
    assert cov["bins"][required[0]] == 3 and cov["bins"]["extra"] == 5
    assert s["coverage_missed"] == {"wdm": [required[-1]]}
    md = (tmp_path / "summary.md").read_text()
    assert f"| wdm | {required[-1]} | 0 | **MISSED** |" in md
    assert f"| wdm | {required[0]} | 3 | reached |" in md
    assert json.loads((tmp_path / "summary.json").read_text())["cases"] == 2


@pytest.mark.cocotb
def test_failing_case_names_its_seeds_and_replay(tmp_path):
    # A consumer that is never ready: nothing comes out, every seed fails.
    case = regress.Case("pefu-stuck", "module", "pefu", {"tm": 2},
                        knobs={"outputs": 2, "p_ready": 0.0})
    r = regress.run_case(case, [3, 4], "icarus", outdir=tmp_path)
    assert r["status"] == "failed" and [f["seed"] for f in r["failures"]] == [3, 4]
    assert r["failures"][0]["replay"] == \
        "python -m tb.regress --case pefu-stuck --seed 3 --sim icarus --waves"
    assert "only 0 of 2 payloads" in r["failures"][1]["message"]


@pytest.mark.cocotb
def test_small_matrix_end_to_end(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "tb.regress", "--preset", "quick", "--only",
                           "htree", "--seeds", "2", "--jobs", "2", "--sim", "icarus",
                           "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode in (0, 3), proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases"] == 3 and summary["runs"] == 6 and summary["failed"] == 0
    # The handshake corners come from the monitors of real runs.
    assert summary["coverage"]["htree"]["bins"]["stall o"] > 0
    cases = list(ET.parse(out / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == 3 and not any(c.find("failure") is not None for c in cases)
    assert "| htree-tn2-tm4 | 1,2 | PASSED |" in (out / "summary.md").read_text()


@pytest.mark.cocotb
def test_replay_one_case(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tb.regress", "--case", "encoder-tn2",
                           "--seed", "7", "-o", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("PASSED: encoder-tn2 seeds [7]")
    record = json.loads((tmp_path / "cases" / "encoder-tn2" / "record.json").read_text())
    assert record["bins"]["beat o"] > 0


def test_cli_errors():
    for args, message in ((["--only", "nope"], "unknown module(s) nope"),
                          (["--case", "nope"], "unknown case(s) nope"),
                          (["--seeds", "0"], "--seeds: must be a positive integer, not 0"),
                          (["--jobs", "x"], "--jobs: must be a positive integer, not 'x'")):
        proc = subprocess.run([sys.executable, "-m", "tb.regress", *args],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)


@pytest.mark.parametrize("tm", [2, 4, 16])
def test_pefu_workload_reaches_both_saturations_every_seed(tm):
    # The directed corners: whatever the seed, the regression's PEFU cases see
    # results saturated to +max and to -max (required coverage bins).
    import numpy as np

    from tb.sim.workloads import pefu_coverage, pefu_expected, pefu_workload
    for seed in range(5):
        work = pefu_workload(np.random.default_rng(seed), tm, 40)
        bins = pefu_coverage(work, pefu_expected(work))
        assert bins["saturate +"] >= 1 and bins["saturate -"] >= 1, (seed, tm, bins)


@pytest.mark.cocotb
def test_cases_on_a_dask_cluster_give_the_local_results(tmp_path):
    # A LocalCluster of two workers in this process; the regression's CLI runs its
    # cases there (--scheduler) and its records equal those of the cases run here.
    from distributed import LocalCluster
    # (the scheduler's HTTP server on a free port: with dashboard_address=None it
    # takes 8787, which another test's cluster on the other worker may hold)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address="127.0.0.1:0") as cluster:
        proc = subprocess.run([sys.executable, "-m", "tb.regress", "--preset", "quick",
                               "--only", "htree", "--seeds", "1", "--sim", "icarus",
                               "--scheduler", cluster.scheduler_address,
                               "-o", str(tmp_path / "dask")], capture_output=True, text=True)
        workers = len(cluster.workers)
    assert workers == 2
    assert proc.returncode in (0, 3), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "the dask cluster at tcp://" in proc.stdout
    remote = json.loads((tmp_path / "dask" / "summary.json").read_text())["records"]
    cases = regress.matrix("quick", ["htree"])
    local = [regress.run_case(c, [1], "icarus", outdir=tmp_path / "local") for c in cases]

    def same(r):
        return {k: v for k, v in r.items() if k != "seconds"}
    assert [same(r) for r in remote] == [same(r) for r in local]
    assert all(r["status"] == "passed" and r["bins"] for r in local)


def test_scheduler_that_does_not_answer_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tb.regress", "--only", "htree",
                           "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path / "r")],
                          capture_output=True, text=True,
                          env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert proc.returncode == 2
    assert "--scheduler tcp://127.0.0.1:9: no dask scheduler answers there" in proc.stderr
