"""Test ordering for the parallel run (``make test``: ``pytest -n auto
--maxschedchunk 1``, each worker takes the next test when it is free): the
longest tests go first, so that no worker is left alone with a long test at the
end while the others idle.  The order comes from recorded durations,
``tests/durations.json`` (test id → seconds), which ``make durations`` rewrites
from a run (``--record-durations``); a test not recorded yet counts as the
median.  (Without ``--maxschedchunk 1`` xdist hands each worker a block of
consecutive tests first, and one worker would get them all.)"""

import json
import statistics
from pathlib import Path

DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser):
    parser.addoption("--record-durations", action="store_true",
                     help=f"write each test's duration (setup + call + teardown) into "
                          f"{DURATIONS.name}, the order of the next runs")


def _recorded():
    try:
        return json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(config, items):
    known = _recorded()
    default = statistics.median(known.values()) if known else 0.0
    items.sort(key=lambda item: -known.get(item.nodeid, default))


_TIMES = {}      # this run's durations (in the main process, xdist or not)


def pytest_runtest_logreport(report):
    _TIMES[report.nodeid] = _TIMES.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    config = session.config
    if not config.getoption("--record-durations") or hasattr(config, "workerinput"):
        return
    from golden.cli import atomic_write
    merged = {**_recorded(), **{k: round(v, 2) for k, v in _TIMES.items()}}
    atomic_write(DURATIONS, json.dumps(dict(sorted(merged.items())), indent=0) + "\n")
