"""``python -m golden.digits -o DIR``: train and compress the digits MLP and CNN
(:mod:`golden.data.digits`)."""

import sys

from golden.data.digits import *  # noqa: F403
from golden.data.digits import __all__, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
