"""Bounded proofs of the stream contracts (SymbiYosys + z3), and their teeth:
every proof's broken twins (a fault injected at the module's output) must be
caught by the property meant to catch it."""

import json

import pytest

from hdl import formal

pytestmark = pytest.mark.formal


@pytest.mark.parametrize("name", list(formal.PROOFS))
def test_proof_holds(name, tmp_path):
    proof = formal.run_proof(name, outdir=tmp_path)
    assert proof["status"] == "PASS", f"{name}: proof {proof['status']}; see {proof['dir']}/sby.log"


# The NSM's and the Encoder's twins take the solver longest: make test-slow.
@pytest.mark.parametrize("name, fault", [
    pytest.param(name, fault, marks=[pytest.mark.slow] if name in ("nsm", "encoder") else [])
    for name, proof in formal.PROOFS.items() for fault in proof.faults])
def test_broken_twin_fails_on_its_property(name, fault, tmp_path):
    assert set(formal.PROOFS[name].faults) <= set(formal.FAULTS)
    twin = formal.run_proof(name, fault, outdir=tmp_path)
    assert twin["status"] == "FAIL", (f"{name} with fault {fault!r} was not caught "
                                      f"({twin['status']}); see {twin['dir']}/sby.log")
    caught_by = set(twin["failed"]) & set(formal.twin_catchers(name, fault))
    assert caught_by, (f"{name} with fault {fault!r} broke {twin['failed']}, "
                       f"none of {formal.twin_catchers(name, fault)}")


def test_every_proof_states_its_properties_in_the_harness():
    # Each declared property is an assertion of the harness (by name), so the
    # report's property column is what the solver actually checked.
    for name, proof in formal.PROOFS.items():
        names = set(formal._check_names(formal.harness(name)).values())
        for prop in proof.properties:
            assert prop in names, f"{name}: property {prop!r} is not asserted"


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match="unknown proof 'nope'"):
        formal.harness("nope")
    with pytest.raises(ValueError, match="fault must be one of"):
        formal.harness("wdm", "melt")
    with pytest.raises(SystemExit):
        formal.main(["nope"])


def test_cli_writes_reports(tmp_path, capsys):
    assert formal.main(["ssm", "-o", str(tmp_path), "--jobs", "1"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and len(report["results"]) == 1 + len(formal.FAULTS)
    md = (tmp_path / "report.md").read_text()
    assert "| ssm |" in md and "All as expected: yes" in md
    assert "report:" in capsys.readouterr().out
