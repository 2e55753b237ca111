"""The Encoder in Amaranth simulation against golden.twins.encoder, with random stalls."""

import numpy as np
import pytest

from hdl.datapath.encoder import Encoder
from tb.sim.simstreams import Scenario, run_streams
from tb.sim.workloads import encoder_expected, encoder_inputs, encoder_workload


def as_dict(c):
    return {"valid": int(c.valid), "value": [int(v) for v in c.value],
            "bitmap": int(c.bitmap), "first": int(c.first), "end": int(c.end),
            "last": int(c.last)}


@pytest.mark.parametrize("tn", [2, 4, 16])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_vectors_random_stalls(tn, seed):
    window = 4 * tn
    vectors = encoder_workload(np.random.default_rng(seed), tn, window, 8)
    inputs, expected = encoder_inputs(vectors, window), encoder_expected(vectors, tn, window)
    got, _ = run_streams(Encoder(tn=tn), inputs, len(expected), seed=seed)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert as_dict(g) == e, f"[{Scenario(seed, {'tn': tn})}] beat {k}"


def test_nonzero_count_equals_bitmap_popcount():
    tn, window = 4, 16
    vectors = encoder_workload(np.random.default_rng(5), tn, window, 10)
    inputs, expected = encoder_inputs(vectors, window), encoder_expected(vectors, tn, window)
    got, _ = run_streams(Encoder(tn=tn), inputs, len(expected), seed=5)
    got = [as_dict(g) for g in got]
    emitted = sum(bin(g["valid"]).count("1") for g in got)
    bitmap_bits = sum(bin(g["bitmap"]).count("1") for g in got if g["first"])
    assert emitted == bitmap_bits == sum(int((v != 0).sum()) for v in vectors)


def test_latency_and_rate():
    tn = 4
    values = np.arange(1, 17)  # one full window of 16 nonzeros: 4 beats
    inputs = encoder_inputs([values], 16)
    dut = Encoder(tn=tn)
    _, cycles = run_streams(dut, inputs, 4, seed=0, p_valid=1.0, p_ready=1.0)
    assert cycles == 1 + dut.latency + 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(tn=0), r"^tn must be a power of two in 1\.\.64, not 0$"),
    (dict(tn=4, window=2), r"^window must be a power of two in 4\.\.256, not 2$"),
    (dict(tn=4, width=1), r"^width must be an integer in 2\.\.32, not 1$"),
])
def test_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Encoder(**kwargs)
