"""Area before synthesis: ``python -m hdl.estimate [--tn --tm --window --widths … |
--profile NAME] [--family ice40|ecp5|gates] [--json FILE]``.

LUTs, FFs, DSPs and block RAMs per block of :class:`hdl.top.Accelerator` (the
blocks of ``build/area.json``) and in total, in well under a second, from a
model fitted on Yosys runs (``python -m hdl.estimate.fit``):

* every memory is priced on its own (:mod:`hdl.estimate.memories`): Yosys'
  choice among logic, distributed and block RAM, from its shape;
* each block's remaining logic is a non-negative sum of the configuration's
  features (Tn, Tm, Tn·Tm, the NSM window W, W·log2 W, ...) fitted per family;
* DSPs are whole multiples of the same features.

``gates`` is technology-neutral: transistors of Yosys' generic synthesis
(memories apart), and gate equivalents (a GE is a two-input NAND, four
transistors).
"""

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["FAMILIES", "RESOURCES", "estimate", "estimate_with", "load_model",
           "ESTIMATE_FAMILIES", "main"]

#: Families the estimate answers for.
ESTIMATE_FAMILIES = ("ice40", "ecp5", "gates")
FAMILIES = ESTIMATE_FAMILIES
#: Resources per block, per family.
RESOURCES = {"ice40": ("luts", "ffs", "dsp", "bram", "spram"),
             "ecp5": ("luts", "ffs", "dsp", "bram"),
             "gates": ("transistors", "ge", "memory_bits")}


@lru_cache(maxsize=None)
def _load(model_path, data_path):
    model = json.loads(Path(model_path).read_text())
    data = json.loads(Path(data_path).read_text())
    return model, data.get("memories", {})


def load_model():
    """``(model, memory table)`` as fitted by :mod:`hdl.estimate.fit`."""
    from hdl.estimate.fit import DATA, MODEL
    if not MODEL.exists():
        raise RuntimeError(f"no fitted model at {MODEL}: run python -m hdl.estimate.fit")
    return _load(str(MODEL), str(DATA))


def estimate(cfg, family="ecp5"):
    """The area of ``Accelerator(cfg)`` for ``family``:
    ``{"family", "blocks": {NAME: {resource: n}}, "total": {...}, "memories": [...]}``.
    ``memories`` lists each memory's mapping and whether its shape was
    characterized by Yosys (``measured``) or priced by the rule alone."""
    if family not in ESTIMATE_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(ESTIMATE_FAMILIES)}, "
                         f"not {family!r}")
    model, table = load_model()
    return estimate_with(model, table, cfg, family)


def estimate_with(model, table, cfg, family):
    """:func:`estimate` under a given fit (``model``) and memory characterization
    (``{family: {shape: {"bram", "luts", "ffs"}}}``)."""
    from hdl.estimate.fit import features
    from hdl.estimate.memories import inventory, map_memory
    fitted = model["families"].get(family)
    if fitted is None:
        raise RuntimeError(f"the model has no fit for {family}: run python -m hdl.estimate.fit")
    blocks = {}
    for block, coef in fitted.items():
        f = features(cfg, block)
        blocks[block] = {key: max(0, int(round(float(np.dot(c, f))))) for key, c in coef.items()}
    mems = []
    for mem in inventory(cfg):
        rec = blocks.setdefault(mem.block, {})
        if family == "gates":
            rec["memory_bits"] = rec.get("memory_bits", 0) + mem.depth * mem.width * mem.count
            continue
        r = map_memory(family, mem, table.get(family))
        for key in ("luts", "ffs", "bram"):
            rec[key] = rec.get(key, 0) + r[key]
        mems.append({"block": mem.block, "name": mem.name, "depth": mem.depth,
                     "width": mem.width, "copies": mem.count, **r})
    for rec in blocks.values():
        if family == "gates":
            rec.setdefault("transistors", 0)
            rec["ge"] = int(round(rec["transistors"] / 4))
            rec.setdefault("memory_bits", 0)
        for key in RESOURCES[family]:
            rec.setdefault(key, 0)
    total = {key: sum(r[key] for r in blocks.values()) for key in RESOURCES[family]}
    return {"family": family, "blocks": blocks, "total": total, "memories": mems}


def main(argv=None):
    """``python -m hdl.estimate`` (:mod:`hdl.estimate.cli`)."""
    from hdl.estimate.cli import main as cli_main
    return cli_main(argv)
