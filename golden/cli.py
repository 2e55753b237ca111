"""The conventions every ``python -m …`` command of sparsegen follows.

* A bad argument or input is answered by one line on standard error,
  ``PROG: error: MESSAGE``, naming the option, file, layer or field and the bad
  value, and exit status 2 — before any long work starts
  (:class:`ArgumentParser`, :func:`run_main`).
* Output paths are checked before the work starts (:func:`output_file`,
  :func:`output_dir`): a file option that names a directory, a directory option
  that names a file, a directory that cannot be created, an unwritable place.
* Every output file is written whole or not at all (:func:`atomic_write`: a
  temporary file in the same directory, then a rename), with the usual
  permissions (``0666`` less the umask, as ``open`` creates files).
"""

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["UsageError", "ArgumentParser", "run_main", "output_file", "output_dir",
           "add_cnn_arguments", "cnn_shape",
           "atomic_write", "atomic_json", "atomic_npy", "atomic_savefig", "warn", "positive_int",
           "nonnegative_int", "simulator", "add_seed", "add_jobs", "add_sim", "SIMULATORS",
           "default_sim"]

#: The simulators of the cocotb testbenches.
SIMULATORS = ("icarus", "verilator")


class UsageError(ValueError):
    """A bad argument or input; the message names it and the bad value."""


def positive_int(text):
    """An ``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def nonnegative_int(text):
    """An ``argparse`` type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, not {value}")
    return value


def default_sim():
    """The simulator named by ``$SIM`` (``icarus`` when unset), validated."""
    sim = os.environ.get("SIM", "") or "icarus"
    if sim not in SIMULATORS:
        raise UsageError(f"SIM must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    return sim


def simulator(text):
    """An ``argparse`` type: a simulator name."""
    if text not in SIMULATORS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(SIMULATORS)} (or $SIM), "
                                         f"not {text!r}")
    return text


def add_seed(parser, help="random seed"):
    """``--seed N`` (default 0): every random choice of the command follows it."""
    parser.add_argument("--seed", type=nonnegative_int, default=0, help=f"{help} (default 0)")


def add_jobs(parser, what="parallel jobs"):
    """``--jobs N`` / ``-j N`` (default: the number of CPUs)."""
    parser.add_argument("-j", "--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help=f"{what} (default: the CPU count, {os.cpu_count() or 1})")


def add_sim(parser):
    """``--sim icarus|verilator`` (default ``$SIM`` or icarus; a bad ``$SIM`` is an error)."""
    parser.add_argument("--sim", type=simulator, default=os.environ.get("SIM", "") or "icarus",
                        metavar="{icarus,verilator}",
                        help="simulator of the cocotb testbenches (default $SIM or icarus)")


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line: ``PROG: error: MESSAGE
    (see --help)``, exit status 2 (argparse's own prints the usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_cnn_arguments(parser, what="one program per batch of images"):
    """``--input-shape``, ``--pool``, ``--pool-size``: how a model with conv layers runs
    (:func:`cnn_shape` reads them)."""
    parser.add_argument("--input-shape", metavar="C,H,W",
                        help=f"a model with conv layers: each input row is a (C, H, W) image; "
                             f"{what}")
    parser.add_argument("--pool", choices=["max", "avg"], default="max",
                        help="CNN: pooling after each conv layer, on the accelerator (max: in "
                             "the PEFU; avg: as a conv layer, 2x2/4x4 windows; default max)")
    parser.add_argument("--pool-size", type=int, default=2,
                        help="CNN: pooling window (default 2)")


def cnn_shape(args, model, row_length=None):
    """The images' ``(C, H, W)`` of :func:`add_cnn_arguments` for ``model``: None for a
    model without conv layers; else checked (``UsageError`` naming the option):
    given, three positive integers, ``C*H*W = row_length`` (the inputs' row length,
    when known), and ``--pool-size`` at least 1."""
    if not any(layer.kind == "conv" for layer in model.layers):
        return None
    if not args.input_shape:
        raise UsageError("the model has conv layers: give --input-shape C,H,W")
    try:
        shape = tuple(int(v) for v in args.input_shape.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--input-shape must be C,H,W (three positive integers), not "
                         f"{args.input_shape!r}")
    if row_length is not None and shape[0] * shape[1] * shape[2] != row_length:
        raise UsageError(f"--input-shape must be C,H,W with C*H*W = {row_length} (the "
                         f"input's row length), not {args.input_shape!r}")
    if args.pool_size < 1:
        raise UsageError(f"--pool-size must be at least 1, not {args.pool_size}")
    return shape


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, data):
    """Write ``data`` (``str`` or ``bytes``) to ``path`` whole or not at all: into a
    temporary file in the same directory, then renamed over ``path``."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_json(path, obj, **kwargs):
    """:func:`atomic_write` of ``obj`` as indented JSON."""
    atomic_write(path, json.dumps(obj, indent=kwargs.pop("indent", 2), **kwargs) + "\n")


def atomic_npy(path, array):
    """:func:`atomic_write` of a NumPy array as ``.npy``."""
    import numpy as np
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write(path, buf.getvalue())


def atomic_savefig(fig, path, **kwargs):
    """:func:`atomic_write` of a Matplotlib figure (format from the suffix)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
    atomic_write(path, buf.getvalue())


def output_file(path, option):
    """Check, before any work, that ``path`` can be written as a file; return it.

    Its directory must exist and be writable, and ``path`` must not be a directory.
    ``option`` names the command-line option in the message."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory, expected a file")
    parent = path.parent
    if not parent.exists():
        raise UsageError(f"{option} {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path}: the file is not writable")
    return path


def output_dir(path, option, create=False):
    """Check, before any work, that ``path`` is a writable directory or can be made
    one (its nearest existing ancestor is a writable directory); return it.
    Nothing is created unless ``create`` (then it is, with its parents)."""
    if path is None:
        return None
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is a file, expected a directory")
    base = path
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise UsageError(f"{option} {path}: {base} is a file, so the directory cannot be made")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {base} is not writable")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{option} {path}: cannot create the directory "
                             f"({e.strerror or e})") from None
    return path


def warn(prog, message):
    """A warning on standard error: ``PROG: warning: MESSAGE``."""
    print(f"{prog}: warning: {message}", file=sys.stderr, flush=True)


def run_main(prog, body, errors=()):
    """Run ``body()`` (which returns an exit status) and turn a bad argument or
    input — ``ValueError`` (``UsageError``, the compiler's and the model file's
    errors are ValueErrors), ``OSError`` and the ``errors`` a command adds (a
    failed tool run, say) — into one error line and exit status 2.  A Ctrl-C
    exits 130 without a traceback."""
    try:
        return body()
    except (ValueError, OSError, *errors) as e:
        text = str(e) or type(e).__name__
        if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
            text = f"{e.filename}: {text}"
        print(f"{prog}: error: {' '.join(text.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
