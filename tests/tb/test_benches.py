"""The generated NSM, SSM (selector and sequencer), WDM, Encoder, H-tree and the
composed slice under cocotb (Icarus), against their golden twins, for Tm and
Tn in {4, 16} (and 2 where valid), three seeds each, random stalls both sides."""

import pytest

from tb.runner import run

pytestmark = pytest.mark.cocotb

SEEDS = (1, 2, 3)

# The largest ones (slices of 32 PEs x lanes) run in `make test-slow`; `make
# regress` sweeps the whole matrix.
CASES = [
    ("nsm", {"tm": 2}), ("nsm", {"tm": 4}), ("nsm", {"tm": 16}),
    ("ssm", {"tm": 2}), ("ssm", {"tm": 4}), ("ssm", {"tm": 16}),
    ("ssm_seq", {"tm": 2}), ("ssm_seq", {"tm": 4}), ("ssm_seq", {"tm": 16}),
    ("wdm", {"tm": 2}), ("wdm", {"tm": 4}), ("wdm", {"tm": 16}),
    ("encoder", {"tn": 2}), ("encoder", {"tn": 4}), ("encoder", {"tn": 16}),
    ("htree", {"tn": 2, "tm": 4}), ("htree", {"tn": 4, "tm": 4}), ("htree", {"tn": 16, "tm": 4}),
    ("slice", {"tn": 4, "tm": 4}), ("slice", {"tn": 2, "tm": 16}), ("slice", {"tn": 16, "tm": 2}),
]
SLOW = {("slice", (("tn", 2), ("tm", 16))), ("slice", (("tn", 16), ("tm", 2)))}


@pytest.mark.parametrize("module, params", [
    pytest.param(m, p, id=f"{m}-" + "-".join(f"{k}{v}" for k, v in p.items()),
                 marks=[pytest.mark.slow] if (m, tuple(p.items())) in SLOW else [])
    for m, p in CASES])
def test_verilog_matches_golden(module, params):
    run(module, params, seeds=SEEDS)
