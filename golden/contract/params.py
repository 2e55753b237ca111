"""Parameter validation, one style for every constructor and configuration
(:mod:`golden.contract.config`, the components in :mod:`hdl`, the board top).

Each check raises :class:`ValueError` naming the parameter, the allowed values
and the value it got, e.g. ``tm must be a power of two >= 2, not 3``.
"""

import operator

__all__ = ["check_int", "check_pow2", "check_choice", "check_subset", "clog2"]


def _as_int(name, value):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def check_int(name, value, minimum=None, maximum=None):
    """An integer within ``[minimum, maximum]`` (either bound may be ``None``)."""
    value = _as_int(name, value)
    if minimum is not None and maximum is not None:
        if not minimum <= value <= maximum:
            raise ValueError(f"{name} must be an integer in {minimum}..{maximum}, not {value}")
    elif minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value}")
    elif maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, not {value}")
    return value


def check_pow2(name, value, minimum=1, maximum=None):
    """A power of two within ``[minimum, maximum]``."""
    value = _as_int(name, value)
    bounds = f" >= {minimum}" if maximum is None else f" in {minimum}..{maximum}"
    if value < minimum or (maximum is not None and value > maximum) or value & (value - 1):
        raise ValueError(f"{name} must be a power of two{bounds}, not {value}")
    return value


def check_choice(name, value, choices):
    """One of ``choices``."""
    if value not in choices:
        allowed = ", ".join(map(repr, choices))
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
    return value


def check_subset(name, value, choices):
    """A non-empty collection of distinct members of ``choices`` (not a string), as a
    tuple in the order of ``choices``."""
    try:
        items = list(value) if not isinstance(value, str) else None
    except TypeError:
        items = None
    if not items or len(set(items)) != len(items) or not set(items) <= set(choices):
        allowed = ", ".join(map(repr, choices))
        raise ValueError(f"{name} must be a non-empty list of distinct values among {allowed}, "
                         f"not {value!r}")
    return tuple(c for c in choices if c in items)


def clog2(n):
    """Ceiling of log2 for n >= 1 (clog2(1) == 0)."""
    return (int(n) - 1).bit_length()
