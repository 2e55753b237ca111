"""The control plane (docs/architecture.md §3): the control processor
(:mod:`.controller`), the load and store units (:mod:`.dma`), the compute unit
(:mod:`.compute`) and the instruction views (:mod:`.isa`)."""
