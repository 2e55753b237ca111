"""python -m tb.runner: the replay command printed by failures works as a command."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cocotb


def test_replay_command_runs(tmp_path):
    env = {"SPARSEGEN_BUILD": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "tb.runner", "pefu", "--tm", "2", "--seed", "5",
         "--knob", "outputs=5"],
        capture_output=True, text=True, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "PASS: pefu {'tm': 2} seed=5 sim=icarus" in proc.stdout
    assert (tmp_path / "sim" / "pefu" / "tm2-icarus-s5" / "seed5" / "results.xml").exists()


def test_bad_parameter_is_rejected_before_simulating():
    proc = subprocess.run([sys.executable, "-m", "tb.runner", "pefu", "--tm", "6"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "tm must be a power of two in 2..256, not 6" in proc.stderr
    assert "Traceback" not in proc.stderr
