"""``python -m golden.compress WEIGHTS.npz -o MODEL.npz --report DIR``: the compression
pipeline of :mod:`golden.compression.pipeline` (public name of the command and its
functions)."""

import sys

from golden.compression.pipeline import *  # noqa: F403
from golden.compression.pipeline import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
