"""Instruction decoding for the hardware, built from :mod:`golden.isa` (one source)."""

from amaranth.lib import data

from golden.isa import LAYOUTS, OPS, TARGETS, WORD_BITS

__all__ = ["WORD_BITS", "OPS", "TARGETS", "layout", "view"]


def layout(op):
    """The ``data.StructLayout`` of an opcode's fields (op, par, ...)."""
    return data.StructLayout({name: width for name, width in LAYOUTS[op]})


def view(op, word):
    """A view of a 128-bit instruction value as opcode ``op``."""
    lay = layout(op)
    return data.View(lay, word[:lay.size])
