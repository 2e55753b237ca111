"""sparsegen golden model: NumPy compression, fixed-point reference and the
per-module golden functions that the hardware must match bit for bit.

Layers, each a sub-package:

* :mod:`golden.contract` — what the hardware imports: configuration, ISA,
  fixed-point rule, data formats, the model file, parameter checks;
* :mod:`golden.twins` — the hardware's golden twins and the functional machine;
* :mod:`golden.compression` — pruning, quantization, Huffman, the pipeline;
* :mod:`golden.compiler` — model to program and memory image;
* :mod:`golden.perf` — the performance model;
* :mod:`golden.data` — the digits networks and random ones for tests.

Public names kept at the top: :mod:`golden.config`, :mod:`golden.perfmodel` and
:mod:`golden.conv` (re-exports), and the commands ``python -m golden.compress``,
``golden.compile`` and ``golden.digits``; :mod:`golden.cli` holds the command-line
conventions every command follows.
"""
