"""The design-space sweep (tb.sweep): its points, the parts they fit, the Pareto
front, and the same results on a dask cluster."""

import json
import subprocess
import sys

import pytest

from golden.contract.config import small_config
from hdl.estimate import estimate
from tb import sweep

ARGS = ["--tn", "1,2", "--tm", "2,4", "--window-k", "8,16", "--workloads", "alexnet-fc8",
        "--buffers", "small",
        "-j", "1"]


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    proc = subprocess.run([sys.executable, "-m", "tb.sweep", *ARGS, "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "sweep.json").read_text())


def test_grid_leaves_out_what_the_configuration_rejects():
    points = sweep.grid([1, 2, 16], [2, 4], [4, 8, 16], [(4, 8, 16)], ["small"])
    keys = {(p["tn"], p["tm"], p["window_k"]) for p, _ in points}
    # a window smaller than Tn: Tn = 16 at Tm = 2, k = 4 (8 positions)
    assert keys == {(tn, tm, k) for tn in (1, 2, 16) for tm in (2, 4) for k in (4, 8, 16)
                    if (tn, tm, k) != (16, 2, 4)}


def test_sweep_points_carry_model_cycles_area_and_fits(small_sweep):
    out, report = small_sweep
    assert len(report["points"]) == 8
    for r in report["points"]:
        cfg = small_config(r["tn"], r["tm"], window_k=r["window_k"])
        assert r["window"] == cfg.window
        assert r["cycles"]["alexnet-fc8"] > 0 and r["total_cycles"] == r["cycles"]["alexnet-fc8"]
        for fam in ("ice40", "ecp5"):
            assert r["area"][fam] == estimate(cfg, fam)["total"]
        for part, (fam, cap) in sweep.PARTS.items():
            assert r["fits"][part] == all(r["area"][fam][k] <= cap[k] for k in cap)
    # the cycles are the performance model's for that configuration
    one = report["points"][0]
    cfg = small_config(one["tn"], one["tm"], window_k=one["window_k"])
    again = sweep.point_cycles(cfg.as_dict(), ("alexnet-fc8",), report["seed"], str(out))
    assert again["cycles"] == one["cycles"]
    # more PEs: fewer cycles at this layer
    by = {(r["tn"], r["tm"], r["window_k"]): r["total_cycles"] for r in report["points"]}
    assert by[(2, 4, 16)] < by[(1, 4, 16)]
    assert (out / "pareto.png").stat().st_size > 5000
    md = (out / "report.md").read_text()
    assert "## Best point per part" in md and "## Pareto front, ecp5" in md


def test_pareto_front_is_not_dominated(small_sweep):
    _, report = small_sweep
    rows = report["points"]
    for fam, front in report["pareto"].items():
        assert front
        members = [r for r in rows if sweep._key(r) in front]
        for p in members:
            for q in rows:
                assert not (q[f"luts_{fam}"] <= p[f"luts_{fam}"]
                            and q["total_cycles"] <= p["total_cycles"]
                            and (q[f"luts_{fam}"], q["total_cycles"])
                            != (p[f"luts_{fam}"], p["total_cycles"])), (fam, p, q)
        # and every point off the front is dominated by one on it
        for q in rows:
            if sweep._key(q) not in front:
                assert any(p[f"luts_{fam}"] <= q[f"luts_{fam}"]
                           and p["total_cycles"] <= q["total_cycles"] for p in members)


def test_pareto_by_hand():
    pts = [{"x": 1, "y": 9}, {"x": 2, "y": 5}, {"x": 3, "y": 6}, {"x": 4, "y": 1},
           {"x": 5, "y": 1}, {"x": 2, "y": None}]
    assert [(p["x"], p["y"]) for p in sweep.pareto(pts, "x", "y")] == [(1, 9), (2, 5), (4, 1)]


def test_sweep_on_a_dask_cluster_gives_the_local_results(small_sweep, tmp_path):
    from distributed import LocalCluster
    _, local = small_sweep
    # (the scheduler's HTTP server on a free port: with dashboard_address=None it
    # takes 8787, which another test's cluster on the other worker may hold)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address="127.0.0.1:0") as cluster:
        proc = subprocess.run([sys.executable, "-m", "tb.sweep", *ARGS, "-o", str(tmp_path),
                               "--scheduler", cluster.scheduler_address],
                              capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dask tcp://" in proc.stdout
    remote = json.loads((tmp_path / "sweep.json").read_text())
    assert remote["points"] == local["points"]
    assert remote["pareto"] == local["pareto"] and remote["best"] == local["best"]


@pytest.mark.slow
def test_sweep_verify_puts_yosys_beside_the_estimate(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tb.sweep", "--tn", "1", "--tm", "2",
                           "--window-k", "16", "--workloads", "alexnet-fc8", "--buffers", "small",
                           "--verify", "1", "-j", "1", "-o", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "sweep.json").read_text())
    assert [v["family"] for v in report["verify"]] == ["ice40", "ecp5"]
    for v in report["verify"]:
        assert v["estimate"]["dsp"] == v["yosys"]["dsp"]
        assert v["estimate"]["bram"] == v["yosys"]["bram"]
        assert abs(v["lut_error_pct"]) <= 10
        assert v["yosys"]["luts"] > 5000
    assert "## Estimate against Yosys" in (tmp_path / "report.md").read_text()
