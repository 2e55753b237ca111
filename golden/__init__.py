"""sparsegen golden model: NumPy compression, fixed-point reference and the
per-module golden functions that the hardware must match bit for bit."""
