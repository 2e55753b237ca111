"""How a cocotb testbench learns its configuration.

The runner (:mod:`tb.runner`) passes one JSON object in the environment
variable ``SPARSEGEN_TB``: ``module``, ``params`` (the constructor parameters),
``seed``, ``ports`` (the port table from ``MODULE.json``) and ``knobs`` (test
sizes and stall probabilities).  Every failure message starts with
:func:`replay_hint`, the one command that runs the same case again.
"""

import json
import os
from dataclasses import dataclass, field

ENV = "SPARSEGEN_TB"


@dataclass
class TBConfig:
    module: str
    params: dict
    seed: int
    ports: dict
    knobs: dict = field(default_factory=dict)
    sim: str = "icarus"

    def knob(self, name, default):
        return self.knobs.get(name, default)

    def to_env(self):
        return json.dumps({"module": self.module, "params": self.params, "seed": self.seed,
                           "ports": self.ports, "knobs": self.knobs, "sim": self.sim})

    @classmethod
    def from_env(cls):
        raw = os.environ.get(ENV)
        if raw is None:
            raise RuntimeError(f"{ENV} is not set: run this testbench through tb.runner")
        return cls(**json.loads(raw))

    def replay_hint(self):
        return replay_command(self.module, self.params, self.seed, self.sim, self.knobs)


def replay_command(module, params, seed, sim="icarus", knobs=None):
    opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in params.items())
    knob_opts = " ".join(f"--knob {k}={v}" for k, v in (knobs or {}).items())
    parts = ["python -m tb.runner", module, opts, f"--seed {seed}", f"--sim {sim}",
             knob_opts, "--waves"]
    return " ".join(p for p in parts if p)
