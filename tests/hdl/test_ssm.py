"""The per-PE SSM (with and without its output's skid register) in Amaranth
simulation against golden.twins.ssm, with random stalls."""

import numpy as np
import pytest

from hdl.datapath.ssm import SSM, SSMSequencer
from tb.sim.simstreams import Scenario, run_streams
from tb.sim.workloads import ssm_expected, ssm_inputs, ssm_workload


@pytest.mark.parametrize("tm, compact", [(2, False), (4, False), (16, False), (2, True),
                                         (4, True)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ssm_picks_golden_codes(tm, compact, seed):
    codes, slot, beats = ssm_workload(np.random.default_rng(seed), tm, 40)
    inputs = ssm_inputs(codes, slot, beats, tm)
    expected = ssm_expected(codes, slot, beats, tm)
    got, _ = run_streams(SSM(tm=tm, compact=compact), inputs, len(expected), seed=seed)
    for k, (g, e) in enumerate(zip(got, expected)):
        g = {"neuron": [int(x) for x in g.neuron], "code": [int(x) for x in g.code],
             "valid": int(g.valid), "slot": int(g.slot.value), "table": int(g.table),
             "last": int(g.last)}
        assert g == e, f"[{Scenario(seed, {'tm': tm, 'slot': slot, 'compact': compact})}] beat {k}"


@pytest.mark.parametrize("widths", [(4,), (8,), (4, 8), (16,)])
def test_narrow_codes_for_narrow_widths(widths):
    # Without 16-bit slots the codes are 8 (or 4) bits wide and still exact.
    seed = sum(widths)
    tm = 4
    dut = SSM(tm=tm, widths=widths)
    assert dut.beat_layout.members["code"].elem_shape.width == max(widths)
    codes, slot, beats = ssm_workload(np.random.default_rng(seed), tm, 30, widths=widths)
    expected = ssm_expected(codes, slot, beats, tm)
    got, _ = run_streams(dut, ssm_inputs(codes, slot, beats, tm), len(expected), seed=seed)
    assert [[int(x) for x in g.code] for g in got] == [e["code"] for e in expected], \
        f"[{Scenario(seed, {'tm': tm, 'widths': widths, 'slot': slot})}]"


@pytest.mark.parametrize("cls, kwargs, message", [
    (SSM, dict(tm=5), r"^tm must be a power of two in 1\.\.64, not 5$"),
    (SSM, dict(tm=4, addr_width=2), r"^addr_width must be an integer in 4\.\.24, not 2$"),
    (SSM, dict(tm=4, widths=(2, 16)), r"^widths must be a non-empty subset of \(4, 8, 16\)"),
    (SSMSequencer, dict(tm=4, index_width=40),
     r"^index_width must be an integer in 8\.\.32, not 40$"),
])
def test_parameter_validation(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
