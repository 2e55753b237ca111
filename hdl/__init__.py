"""sparsegen hardware: Amaranth components of the sparse accelerator.

One file per module family (``pefu``, later ``nsm``, ``ssm``, ``wdm``,
``encoder``, ``htree``, ``top``), each registered with :mod:`hdl.registry`
so that ``python -m hdl.generate`` and ``python -m hdl.synth`` find it.
"""
