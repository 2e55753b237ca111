"""Instruction decoding for the hardware, built from :mod:`golden.contract.isa` (one source):
the fields of each opcode as a ``lib.data`` view, ``op``, ``target`` and ``slot``
as ``lib.enum`` views that compare by member."""

from amaranth.lib import data

from golden.contract.isa import LAYOUTS, WORD_BITS, Op, Slot, Target

__all__ = ["WORD_BITS", "Op", "Target", "Slot", "layout", "view"]


def layout(op):
    """The ``data.StructLayout`` of an opcode's fields (op, par, ...)."""
    return data.StructLayout({name: shape for name, shape in LAYOUTS[op]})


def view(op, word):
    """A view of a 128-bit instruction value as opcode ``op``."""
    lay = layout(op)
    return data.View(lay, word[:lay.size])
