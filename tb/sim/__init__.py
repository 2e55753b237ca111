"""Simulation helpers: stream drivers for cocotb (:mod:`.stream`) and Amaranth
(:mod:`.simstreams`), the accelerator under Amaranth simulation with a memory
model (:mod:`.accel_sim`), the UART model (:mod:`.uart_model`), functional
coverage (:mod:`.coverage`), a testbench's configuration (:mod:`.config`) and the
shared workloads (:mod:`.workloads`)."""
