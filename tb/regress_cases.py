"""The regression's cases as pytest items (run by ``python -m tb.regress``, which
writes the plan this reads from ``$SPARSEGEN_REGRESS``; not part of ``make test``)."""

import json
import os
from pathlib import Path

import pytest

from tb.regress import PLAN_ENV, Case, run_case

_PLAN = json.loads(Path(os.environ[PLAN_ENV]).read_text()) if os.environ.get(PLAN_ENV) else None
_CASES = [Case(**c) for c in _PLAN["cases"]] if _PLAN else []


@pytest.mark.skipif(_PLAN is None, reason=f"run through python -m tb.regress ({PLAN_ENV} unset)")
@pytest.mark.parametrize("case", _CASES, ids=[c.id for c in _CASES])
def test_case(case):
    record = run_case(case, _PLAN["seeds"], _PLAN["sim"], outdir=_PLAN["outdir"])
    problems = [f"seed {f['seed']}: {f['message']}\nreplay: {f['replay']}"
                for f in record["failures"]]
    assert not problems, f"{case.id} failed:\n" + "\n".join(problems)
