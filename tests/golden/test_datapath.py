"""Golden NSM / SSM / WDM / Encoder / packing against hand-worked examples and
first principles (dense arithmetic, round trips)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.contract import packing, sib
from golden.contract.fixed import output_stage
from golden.twins import encoder, nsm, ssm, wdm
from golden.twins.fc import (
    compress_group,
    group_outputs,
    shared_synapse_bitmap,
    sparse_fc_group,
    window_cycles,
)

# --- NSM -----------------------------------------------------------------------

def test_nsm_thesis_example():
    # Thesis §4.2.1: 11101010 & 00110011 -> 00100010; neuron flags 3, 5 and
    # synapse flags 1, 3 (1-based; the thesis prints "14", an erratum).
    cycles = nsm.select("11101010", "00110011", tm=2, window=8)
    assert cycles == [[(3 - 1, 1 - 1), (5 - 1, 3 - 1)]]
    # One multiplier per cycle: the same pairs over two cycles.
    assert nsm.select("11101010", "00110011", tm=1, window=8) == [[(2, 0)], [(4, 2)]]


def test_nsm_windows_and_carried_indices():
    # Two windows of 4: indices keep counting across the window boundary.
    nb = "1111" + "1011"
    sb = "0101" + "1111"
    # window 0: both at positions 1, 3 -> (1,0), (3,1); window 1: positions 4, 6, 7
    # -> neuron ranks 4, 5, 6; synapse ranks 2, 4, 5.
    assert nsm.select(nb, sb, tm=2, window=4) == [[(1, 0), (3, 1)], [(4, 2), (5, 4)], [(6, 5)]]
    # With an 8-wide window the same pairs fill cycles across the old boundary.
    assert nsm.select(nb, sb, tm=2, window=8) == [[(1, 0), (3, 1)], [(4, 2), (5, 4)], [(6, 5)]]
    assert nsm.select(nb, sb, tm=4, window=8) == [[(1, 0), (3, 1), (4, 2), (5, 4)], [(6, 5)]]
    # ...but no cycle mixes two windows.
    assert nsm.select(nb, sb, tm=4, window=4) == [[(1, 0), (3, 1)], [(4, 2), (5, 4), (6, 5)]]


def test_nsm_empty_windows_cost_no_cycle_and_beats_close_the_tile():
    nb, sb = "0000" + "1100" + "0000", "1111" + "0100" + "1111"
    # position 5: one neuron bit before it, four synapse bits before it.
    assert nsm.select(nb, sb, tm=2, window=4) == [[(1, 4)]]
    assert nsm.beats(nb, sb, tm=2, window=4) == [([(1, 4)], False), ([], True)]
    assert nsm.beats("0000", "1111", tm=2, window=4) == [([], True)]
    assert nsm.beats("1100", "1100", tm=2, window=4) == [([(0, 0), (1, 1)], True)]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_nsm_property_against_definition(data):
    n = data.draw(st.integers(0, 300))
    nb = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    sb = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    tm = data.draw(st.sampled_from([1, 2, 4, 16]))
    window = data.draw(st.sampled_from([None, 4, 16, 64]))
    cycles = nsm.select(nb, sb, tm, window)
    pairs = [p for c in cycles for p in c]
    # Every position with both bits set, once, in order: (rank in nb, rank in sb).
    expected = [(int(nb[:p].sum()), int(sb[:p].sum())) for p in range(n) if nb[p] and sb[p]]
    assert pairs == expected
    w = 16 * tm if window is None else window
    win_of = {}
    for p in range(n):
        if nb[p] and sb[p]:
            win_of[(int(nb[:p].sum()), int(sb[:p].sum()))] = p // w
    for c in cycles:
        assert 1 <= len(c) <= tm
        assert len({win_of[p] for p in c}) == 1  # no cycle mixes two windows
    # Cycle count: sum over windows of ceil(pairs / tm).
    per_window = {}
    for p in pairs:
        per_window[win_of[p]] = per_window.get(win_of[p], 0) + 1
    assert len(cycles) == sum(-(-k // tm) for k in per_window.values())


def test_nsm_errors():
    with pytest.raises(ValueError,
                       match="^neuron_bitmap and synapse_bitmap must have the same length"):
        nsm.select("101", "10", 2)
    with pytest.raises(ValueError, match="^tm must be a positive integer, not 0$"):
        nsm.select("1", "1", 0)
    with pytest.raises(ValueError, match="may hold only '0' and '1'"):
        nsm.select("12", "11", 2)


# --- SIB layout (window masks) ---------------------------------------------------

def test_sib_masks_name_the_windows_with_synapses():
    W = 8
    rows = np.zeros((11, W), dtype=bool)        # two segments: 8 + 3 windows
    rows[1, 3] = rows[6, 0] = rows[6, 7] = True
    masks, fed_rows = sib.pack(rows)
    assert masks.shape == (2, W) and sib.segments(11, W) == 2
    assert list(np.flatnonzero(masks[0])) == [1, 6]
    assert list(np.flatnonzero(masks[1])) == [0]          # empty segment: its first window
    assert sib.fed_windows(masks, 11) == [1, 6, 8]
    assert not fed_rows[2].any()
    bitmap, fed = sib.unpack(masks, fed_rows, 11)
    np.testing.assert_array_equal(bitmap, rows.reshape(-1))
    assert fed == [1, 6, 8]


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_sib_round_trip(data):
    W = data.draw(st.sampled_from([4, 8, 16]))
    n_win = data.draw(st.integers(1, 40))
    p = data.draw(st.floats(0, 1))
    rows = np.random.default_rng(data.draw(st.integers(0, 999))).random((n_win, W)) < p * p
    masks, fed_rows = sib.pack(rows)
    bitmap, fed = sib.unpack(masks, fed_rows, n_win)
    np.testing.assert_array_equal(bitmap, rows.reshape(-1))
    # every window with a synapse is fed, and a segment feeds at least one
    assert set(np.flatnonzero(rows.any(axis=1))) <= set(fed)
    assert {w // W for w in fed} == set(range(-(-n_win // W)))


def test_sib_errors():
    masks = np.zeros((1, 8), dtype=bool)
    masks[0, 6] = True
    with pytest.raises(ValueError, match="sets window 6, but the group has 5 windows"):
        sib.fed_windows(masks, 5)
    with pytest.raises(ValueError, match="1 fed windows need 1 SIB rows, got 2"):
        sib.unpack(masks, np.zeros((2, 8), dtype=bool), 7)


def test_fc_group_over_fed_windows_equals_all_windows():
    # Feeding only the windows with synapses changes the cycles, not the outputs.
    rng = np.random.default_rng(2)
    tm, W = 2, 32
    weights = rng.integers(-50, 50, size=(2, 5 * W))
    weights[:, :2 * W] = 0
    weights[:, 3 * W:4 * W] = 0
    neurons = rng.integers(-50, 50, size=5 * W) * (rng.random(5 * W) < 0.5)
    comp, sbm = compress_group(weights)
    nz, nbm = encoder.encode(neurons)
    all_stats, fed_stats, all_w, fed_w = {}, {}, [], []
    want = group_outputs(nz, nbm, sbm, comp, [3, -3], 4, tm=tm, stats=all_stats, windows=all_w)
    got = group_outputs(nz, nbm, sbm, comp, [3, -3], 4, tm=tm, stats=fed_stats, fed=[2, 4],
                        windows=fed_w)
    np.testing.assert_array_equal(got, want)
    assert fed_stats["ideal"] == all_stats["ideal"]
    assert len(all_w[0]) == 5 and len(fed_w[0]) == 2
    assert window_cycles(fed_w[0]) == window_cycles(all_w[0]) - 3   # three skipped
    with pytest.raises(ValueError, match="not fed"):
        group_outputs(nz, nbm, sbm, comp, [3, -3], 4, tm=tm, fed=[2])


# --- SSM -----------------------------------------------------------------------

def test_ssm_select_and_windows():
    w = np.arange(100, 140)
    assert ssm.select(w, [0, 5, 39]).tolist() == [100, 105, 139]
    # tm = 2 -> window 8: indices 1, 7 | 8 | 20 visit windows 0, 1, 2.
    assert ssm.windows([1, 7, 8, 20], tm=2) == [0, 1, 2]
    assert ssm.cycles([1, 7], tm=2) == 1
    assert ssm.cycles([], tm=2) == 1
    assert ssm.cycles([1, 7, 8, 20], tm=2) == 3
    with pytest.raises(IndexError):
        ssm.select(w, [40])


def test_ssm_tile_steps_hold_the_previous_window():
    # tm = 2 -> windows of 8.  Beat [6, 9] with nothing held: read window 0 (lane 0),
    # then window 1 (lane 1).  Beat [12, 15]: window 1 is held and holds both
    # lanes: one step re-reading it.  Beat [15+1=16, 23]? -> [16, 17]: window 2 is
    # read, nothing from the held one.  Beat [14, 24]: window 1 is not held any
    # more (2 is): read 1 for lane 0, then 3 for lane 1 ... but 2 (held) is skipped.
    steps = ssm.tile_steps([[6, 9], [12, 15], [16, 17], [20, 25]], tm=2)
    assert steps[0] == [(0, [0], []), (1, [1], [])]
    assert steps[1] == [(1, [0, 1], [])]
    assert steps[2] == [(2, [0, 1], [])]
    # [20, 25]: lane 0 in window 2 (held), lane 1 in window 3: one step reading 3.
    assert steps[3] == [(3, [1], [0])]
    # Streaming consecutive indices (weight sparsity): one step per beat.
    beats = [[4 * b + k for k in range(4)] for b in range(20)]
    assert [len(s) for s in ssm.tile_steps(beats, tm=4)] == [1] * 20
    assert ssm.tile_steps([[]], tm=2) == [[(0, [], [])]]
    # Indices must rise through the tile (the NSM's order), not only within a beat.
    with pytest.raises(ValueError, match="increasing"):
        ssm.tile_steps([[6, 9], [3]], tm=2)
    with pytest.raises(ValueError, match="increasing"):
        ssm.tile_steps([[9, 6]], tm=2)
    with pytest.raises(ValueError, match="increasing"):
        ssm.tile_steps([[6, 6]], tm=2)


# --- packing and WDM ------------------------------------------------------------

@pytest.mark.parametrize("bits, slot", [(1, 4), (3, 4), (4, 4), (5, 8), (8, 8), (9, 16), (16, 16)])
def test_slot_bits(bits, slot):
    assert packing.slot_bits(bits) == slot


def test_packing_hand_worked():
    # tm = 1: a 64-bit word holds 16 nibbles, four SSM windows of four codes;
    # code j of window q sits in 16-bit lane j, nibble q (lane-interleaved).
    words = packing.pack([1, 2, 3], 4, tm=1)
    assert words == [0x0003_0002_0001]
    assert packing.words_to_bytes(words, 1).tolist() == [0x01, 0, 0x02, 0, 0x03, 0, 0, 0]
    # slots 4..7 are window 1: the second nibble of lanes 0..3
    words = packing.pack([0, 0, 0, 0, 0xA, 0xB, 0xC, 0xD], 4, tm=1)
    assert words == [0x00D0_00C0_00B0_00A0]
    # 8-bit slots: two windows, window 1 in each lane's high byte
    words = packing.pack([1, 2, 3, 4, 5, 6, 7, 8], 8, tm=1)
    assert words == [0x0804_0703_0602_0501]
    assert [packing.slot_offset(k, 8, 2) for k in (0, 7, 8, 15)] == [0, 112, 8, 120]
    # the model file's stream: slot after slot
    words = packing.pack([1, 2, 3], 4, tm=1, interleaved=False)
    assert words == [0x321]
    assert packing.unpack(words, 4, 1, count=3, interleaved=False).tolist() == [1, 2, 3]
    # 16-bit slots hold int16 two's complement; 4 per word at tm = 1.
    words = packing.pack([-1, 2, -32768, 32767, 5], 16, tm=1)
    assert words == [0x7FFF_8000_0002_FFFF, 5]
    assert packing.unpack(words, 16, tm=1, count=5).tolist() == [-1, 2, -32768, 32767, 5]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_packing_round_trip_every_width(data):
    bits = data.draw(st.integers(1, 16))
    slot = packing.slot_bits(bits)
    tm = data.draw(st.sampled_from([1, 2, 4, 16]))
    n = data.draw(st.integers(0, 200))
    if slot == 16:
        values = data.draw(st.lists(st.integers(-32768, 32767), min_size=n, max_size=n))
    else:
        values = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=n, max_size=n))
    words = packing.pack(values, slot, tm)
    assert len(words) == -(-n // packing.slots_per_word(slot, tm))
    assert all(0 <= w < 1 << (64 * tm) for w in words)
    assert packing.unpack(words, slot, tm, count=n).tolist() == values
    assert packing.bytes_to_words(packing.words_to_bytes(words, tm), tm) == words
    # a window's code j comes from lane j alone, whatever the slot width
    W, per = 4 * tm, packing.slots_per_word(slot, tm)
    for k in range(min(n, per)):
        at = packing.slot_offset(k, slot, tm)
        assert 16 * (k % W) <= at and at + slot <= 16 * (k % W + 1)
    plain = packing.pack(values, slot, tm, interleaved=False)
    assert packing.unpack(plain, slot, tm, count=n, interleaved=False).tolist() == values


def test_packing_errors():
    with pytest.raises(ValueError, match=r"^4-bit slots hold indices 0\.\.15$"):
        packing.pack([16], 4, 1)
    with pytest.raises(ValueError, match="^slot must be one of 4, 8, 16, not 5$"):
        packing.pack([1], 5, 1)
    with pytest.raises(ValueError, match=r"^bits must be an integer in 1\.\.16, not 17$"):
        packing.slot_bits(17)
    with pytest.raises(ValueError, match=r"^k must be a slot index in 0\.\.15, not 16$"):
        packing.slot_offset(16, 4, 1)


def test_wdm_decode_is_lookup_of_unpacked_slots():
    rng = np.random.default_rng(0)
    lut = rng.integers(-32768, 32768, size=256)
    for slot, tm in ((4, 2), (8, 2), (16, 2), (8, 4)):
        n = packing.slots_per_word(slot, tm) * 3 - 5
        if slot == 16:
            values = rng.integers(-32768, 32768, size=n)
            expected = values
        else:
            values = rng.integers(0, 1 << slot, size=n)
            expected = lut[values]
        words = packing.pack(values, slot, tm)
        assert len(wdm.decode(words[0], lut, slot, tm)) == 64 * tm // slot
        np.testing.assert_array_equal(wdm.decode_stream(words, lut, slot, tm, n), expected)


# --- Encoder --------------------------------------------------------------------

def test_encoder_hand_worked():
    nz, bm = encoder.encode(np.array([5, 0, -3, 0, 0, 7]))
    assert nz.tolist() == [5, -3, 7]
    assert bm.tolist() == [True, False, True, False, False, True]
    np.testing.assert_array_equal(encoder.decode(nz, bm), [5, 0, -3, 0, 0, 7])


def test_encoder_beats():
    # tn = 2, window 8: window 0 has 3 nonzeros (2 beats), window 1 is all zero (1 beat).
    values = [1, 0, 2, 0, 0, 0, 0, 3] + [0] * 8
    # (nonzeros, first, end of the window, last of the vector)
    beats = encoder.beats(values, tn=2)
    assert [(b[0].tolist(), b[2], b[3], b[4]) for b in beats] == \
        [([1, 2], True, False, False), ([3], False, True, False), ([], True, True, True)]
    assert beats[0][1].tolist() == [1, 0, 1, 0, 0, 0, 0, 1]
    # A vector that is not a multiple of the window is zero-padded.
    beats = encoder.beats([4, 5, 6], tn=2)
    assert [(b[0].tolist(), b[3], b[4]) for b in beats] == [([4, 5], False, False),
                                                           ([6], True, True)]
    assert beats[0][1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-32768, 32767) | st.just(0), max_size=200))
def test_encoder_round_trip(values):
    nz, bm = encoder.encode(np.array(values, dtype=np.int64))
    assert encoder.decode(nz, bm).tolist() == values
    assert int(bm.sum()) == nz.size and (nz != 0).all()


# --- the composed golden tile against dense arithmetic ---------------------------

@pytest.mark.parametrize("seed", range(8))
def test_sparse_fc_group_equals_dense_dot_products(seed):
    rng = np.random.default_rng(seed)
    tn, tm = (2, 4, 4, 16)[seed % 4], (4, 2, 16, 4)[seed % 4]
    n_in = int(rng.integers(1, 300))
    neurons = rng.integers(-300, 300, size=n_in) * (rng.random(n_in) < rng.random())
    weights = rng.integers(-300, 300, size=(tn, n_in))
    weights *= rng.random((tn, n_in)) < rng.random()
    weights[:, rng.random(n_in) < 0.5] = 0  # coarse: whole columns pruned
    bias = rng.integers(-1000, 1000, size=tn)
    shift = int(rng.integers(0, 8))
    act = ("identity", "relu")[seed % 2]
    got = sparse_fc_group(neurons, weights, bias, shift, act, tm=tm)
    acc = weights.astype(np.int64) @ neurons.astype(np.int64)
    np.testing.assert_array_equal(got, output_stage(acc, bias, shift, act))


def test_compress_group_stores_explicit_zeros():
    w = np.array([[1, 0, 0, 2], [0, 0, 3, 0]])
    comp, sbm = compress_group(w)
    assert sbm.tolist() == [True, False, True, True]
    assert comp.tolist() == [[1, 0, 2], [0, 3, 0]]
    assert shared_synapse_bitmap(w).tolist() == [True, False, True, True]
    with pytest.raises(ValueError, match="outside the shared synapse bitmap"):
        compress_group(w, "1001")
