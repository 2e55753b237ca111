"""The sparse datapath (docs/architecture.md §3): NSM, SSM sequencer and SSM, WDM,
H-tree, PEFU and its activation stage, the PE, and the composed slice."""
