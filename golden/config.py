"""The accelerator configuration (public name): :mod:`golden.contract.config`."""

from golden.contract.config import *  # noqa: F403
from golden.contract.config import __all__  # noqa: F401
