"""python -m hdl.generate: files, names, ports, parameter errors."""

import json
import re
import subprocess
import sys

import pytest

from hdl.datapath.pefu import PEFU
from hdl.generate import main


def test_pefu_files_and_top_module(tmp_path):
    assert main(["pefu", "--tm", "4", "-o", str(tmp_path)]) == 0
    text = (tmp_path / "pefu.v").read_text()
    assert re.search(r"^module pefu\(", text, re.M)
    record = json.loads((tmp_path / "pefu.json").read_text())
    assert record["module"] == "pefu"
    assert record["parameters"]["tm"] == 4
    assert record["parameters"]["latency"] == PEFU(tm=4).latency
    ports = record["ports"]
    assert set(ports) == {"clk", "rst", "i__valid", "i__ready", "i__payload",
                          "o__valid", "o__ready", "o__payload"}
    # Every port in the JSON is a port of the Verilog module, with that width.
    for name, desc in ports.items():
        decl = re.search(rf"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(\[(\d+):0\]\s+)?{name};",
                         text, re.M)
        assert decl, name
        assert decl.group(1) == ("input" if desc["dir"] == "in" else "output")
        assert (int(decl.group(3)) + 1 if decl.group(3) else 1) == desc["width"], name
    # The payload layout: neurons first, then weights, then the side band.
    fields = ports["i__payload"]["fields"]
    assert [fields[f]["offset"] for f in ("neuron", "weight", "last")] == [0, 64, 128]
    assert ports["o__payload"] == {"dir": "out", "width": 16, "signed": True}


def test_all_writes_every_registered_module(tmp_path):
    assert main(["all", "--tn", "4", "--tm", "4", "-o", str(tmp_path)]) == 0
    assert (tmp_path / "pefu.v").exists()


def test_bad_parameter_is_one_line_and_writes_nothing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hdl.generate", "pefu", "--tm", "3",
                           "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == \
        "python -m hdl.generate pefu: error: tm must be a power of two in 2..256, not 3"
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_help_lists_modules():
    proc = subprocess.run([sys.executable, "-m", "hdl.generate", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    assert "pefu" in proc.stdout and "all" in proc.stdout


def test_unknown_module_is_rejected(capsys):
    with pytest.raises(SystemExit) as info:
        main(["nope", "-o", "x"])
    assert info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
