"""The performance model (public name): :mod:`golden.perf.perfmodel`."""

from golden.perf.perfmodel import *  # noqa: F403
from golden.perf.perfmodel import __all__  # noqa: F401
