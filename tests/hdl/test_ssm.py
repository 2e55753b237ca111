"""The per-PE SSM in Amaranth simulation against golden.twins.ssm, with random stalls."""

import numpy as np
import pytest

from hdl.datapath.ssm import SSM, SSMSequencer
from tb.sim.simstreams import Scenario, run_streams
from tb.sim.workloads import ssm_expected, ssm_inputs, ssm_workload


@pytest.mark.parametrize("tm", [2, 4, 16])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ssm_picks_golden_weights(tm, seed):
    weights, slot, beats = ssm_workload(np.random.default_rng(seed), tm, 40)
    inputs = ssm_inputs(weights, slot, beats, tm)
    expected = ssm_expected(weights, beats, tm)
    got, _ = run_streams(SSM(tm=tm), inputs, len(expected), seed=seed)
    for k, (g, e) in enumerate(zip(got, expected)):
        g = {"neuron": [int(x) for x in g.neuron], "weight": [int(x) for x in g.weight],
             "last": int(g.last)}
        assert g == e, f"[{Scenario(seed, {'tm': tm, 'slot': slot})}] beat {k}"


@pytest.mark.parametrize("cls, kwargs, message", [
    (SSM, dict(tm=5), r"^tm must be a power of two in 1\.\.64, not 5$"),
    (SSM, dict(tm=4, addr_width=2), r"^addr_width must be an integer in 4\.\.24, not 2$"),
    (SSMSequencer, dict(tm=4, index_width=40),
     r"^index_width must be an integer in 8\.\.32, not 40$"),
])
def test_parameter_validation(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
