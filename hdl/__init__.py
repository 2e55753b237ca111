"""sparsegen hardware: Amaranth components of the sparse accelerator.

* :mod:`hdl.datapath` — the sparse datapath, one file per module family (NSM,
  SSM, WDM, Encoder, H-tree, PEFU, PE, the slice);
* :mod:`hdl.control` — the control plane (control processor, load/store and
  compute units, instruction views);
* :mod:`hdl.top` — the whole accelerator: buffers, control and datapath behind
  one memory port;
* tools: :mod:`hdl.generate` (Verilog), :mod:`hdl.synth` (Yosys area),
  :mod:`hdl.formal` (bounded proofs), :mod:`hdl.registry` (where each module
  registers itself, so the tools find it).
"""
