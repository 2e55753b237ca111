"""The contract between the golden model and the hardware: the configuration
(:mod:`.config`), the instruction set (:mod:`.isa`), the fixed-point rule
(:mod:`.fixed`), the data formats (:mod:`.packing`, :mod:`.layout`, :mod:`.sib`,
:mod:`.bitmap`, the model file :mod:`.model`), the activation tables
(:mod:`.activation`) and the parameter checks (:mod:`.params`).  ``hdl/`` imports
these instead of restating them (docs/architecture.md §2–§4)."""
