"""The module registry behind ``python -m hdl.generate`` and ``python -m hdl.synth``.

A file in ``hdl/`` calls :func:`register` at import time with a name, the
command-line options it takes and a function building the component from them.
:func:`registry` imports every module of the package first, so a new module only
adds its own file.
"""

import importlib
import pkgutil
from dataclasses import dataclass, field

from golden.contract.config import DEFAULT_TM, DEFAULT_TN

__all__ = ["Option", "Entry", "TN", "TM", "WINDOW_K", "register", "registry", "build"]


@dataclass(frozen=True)
class Option:
    """A command-line option of a module: ``flag`` maps to constructor keyword ``dest``."""
    flag: str
    dest: str
    default: int
    help: str


@dataclass(frozen=True)
class Entry:
    name: str
    help: str
    factory: callable
    options: tuple = field(default_factory=tuple)
    in_all: bool = True   # part of `generate all` / `make verilog` / the area table


_REGISTRY = {}

#: Options every module shares; a module lists which of them it uses (the same
#: defaults as every other command: golden.config.DEFAULT_TN / DEFAULT_TM).
TN = Option("--tn", "tn", DEFAULT_TN, "PEs (output neurons computed together), a power of two")
TM = Option("--tm", "tm", DEFAULT_TM, "multipliers per PE, a power of two")
WINDOW_K = Option("--window-k", "window_k", 16, "NSM window in multiples of Tm: 4, 8 or 16")

# Modules of the package that are tools, not components.
_TOOLS = {"hdl.generate", "hdl.synth", "hdl.registry", "hdl.formal"}


def register(name, factory, *, help, options=(), in_all=True):
    """Register ``factory(**options) -> Component`` under ``name``.

    ``in_all=False`` keeps a composite (a test assembly of other modules) out of
    ``generate all`` and so out of the per-module area table.
    """
    if name in _REGISTRY or name == "all":
        raise ValueError(f"module name {name!r} is already registered")
    _REGISTRY[name] = Entry(name, help, factory, tuple(options), in_all)


def registry():
    """All registered modules, importing every module of the ``hdl`` package (and its
    sub-packages) first."""
    package = importlib.import_module("hdl")
    for info in pkgutil.walk_packages(package.__path__, "hdl."):
        leaf = info.name.rsplit(".", 1)[1]
        if not leaf.startswith("_") and info.name not in _TOOLS:
            importlib.import_module(info.name)
    return dict(sorted(_REGISTRY.items()))


def build(name, **kwargs):
    """Construct the registered component ``name`` from the keywords its options name.

    Keywords the module does not take are ignored, so one set of options
    (``tn=…, tm=…``) can build every module.
    """
    entry = registry()[name]
    accepted = {o.dest for o in entry.options}
    return entry.factory(**{k: v for k, v in kwargs.items() if k in accepted and v is not None})
