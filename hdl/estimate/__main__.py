"""``python -m hdl.estimate``: see :mod:`hdl.estimate`."""

import sys

from hdl.estimate.cli import main

if __name__ == "__main__":
    sys.exit(main())
