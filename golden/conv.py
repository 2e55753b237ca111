"""Convolution and pooling (public name): :mod:`golden.twins.conv`."""

from golden.twins.conv import *  # noqa: F403
from golden.twins.conv import __all__  # noqa: F401
