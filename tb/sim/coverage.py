"""Functional coverage of the cocotb testbenches: what the seeds reached.

A testbench counts *bins*: corners of its workload (empty and full windows,
every weight width, saturated results, ...: computed from the data it drives)
and handshake corners it observes on the simulated ports each cycle
(``stall i`` = a producer offered a beat the module did not take — back-pressure
into that stage; ``stall o`` = the consumer held back a valid output).  The
bins go to ``coverage.json`` beside the seed's results (the runner passes the
path in ``SPARSEGEN_COVERAGE``); ``python -m tb.regress`` sums them over the
matrix and reports every required corner that no case reached.
"""

import json
import os
from collections import Counter

__all__ = ["Coverage", "REQUIRED", "ENV"]

ENV = "SPARSEGEN_COVERAGE"

# The corners a regression must reach, per module (bins of the names below).
REQUIRED = {
    "pefu": ["stall i", "stall o", "saturate +", "saturate -", "relu clamp", "multi-beat output"],
    "nsm": ["stall i", "stall neurons", "stall o", "empty window", "full window",
            "tile ends in an empty window", "full beat"],
    "ssm": ["stall i", "stall o", "slot 4", "slot 8", "slot 16", "empty beat",
            "beat over several windows"],
    "ssm_seq": ["stall i", "stall tile", "stall o", "slot 4", "slot 8", "slot 16",
                "lanes from the held window", "empty beat"],
    "wdm": ["stall i", "stall o", "slot 4", "slot 8", "slot 16"],
    "encoder": ["stall i", "stall o", "all-zero window", "full window", "multi-beat window"],
    "htree": ["stall i", "stall o"],
    # The accelerator (tb.regress counts these from each run's result).
    "top": ["sparse", "dense", "dual issue", "memory stall", "slot 4", "slot 8", "slot 16"],
    "slice": ["stall i", "stall neurons", "stall tile", "stall bias", "stall o", "slot 4",
              "slot 8", "slot 16", "empty window", "saturate +", "saturate -"],
}


class Coverage:
    """Bins of one testbench run; ``write()`` stores them for the regression."""

    def __init__(self, module):
        self.module = module
        self.bins = Counter()

    def hit(self, name, n=1):
        self.bins[name] += int(n)

    def update(self, bins):
        for name, n in bins.items():
            self.hit(name, n)

    async def monitor(self, clk, ports):
        """Count ``stall NAME`` and ``beat NAME`` on every stream port, each cycle."""
        from cocotb.triggers import RisingEdge
        while True:
            await RisingEdge(clk)
            for port in ports:
                if port.valid.value:
                    self.hit(f"{'beat' if port.ready.value else 'stall'} {port.name}")

    def write(self, path=None):
        path = path or os.environ.get(ENV)
        if not path:
            return None
        with open(path, "w") as f:
            json.dump({"module": self.module, "bins": dict(sorted(self.bins.items()))}, f,
                      indent=1)
        return path
