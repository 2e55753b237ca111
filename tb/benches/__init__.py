"""The cocotb testbenches of the generated Verilog, one per module
(``test_MODULE``), the whole accelerator (``test_top``) and the board top
(``test_board``); :mod:`tb.runner` builds and runs them."""
