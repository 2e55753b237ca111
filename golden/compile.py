"""``python -m golden.compile MODEL --tn N --tm M -o DIR``: see :mod:`golden.compiler`."""

import sys

from golden.compiler import main

if __name__ == "__main__":
    sys.exit(main())
