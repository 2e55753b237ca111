"""amaranth-boards tops and the host-side serial tool (FPGA issue)."""
