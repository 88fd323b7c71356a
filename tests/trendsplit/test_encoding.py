"""Encoding v1: every rule, the exact arithmetic, and the properties the contract promises."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import assume, example, given, note
from hypothesis import strategies as st

from tests.trendsplit.strategies import (
    any_points,
    offset,
    positive_scale,
    power_of_two,
    series_lists,
    sorted_points,
    watch_logs,
)
from trendsplit import errors
from trendsplit.encoding import (
    L,
    as_points,
    decision_mask,
    decode,
    encode,
    encode_batch,
    encode_padded,
)

SEED_EXAMPLE = [[41, 24], [163, 116], [254, 116], [319, 103], [484, 112], [533, 84], [629, 91]]


def spec_bits(points) -> np.ndarray | str:
    """The contract written out in plain Python floats (binary64) and struct's binary32 rounding."""
    xs = [float(p[0]) + 0.0 for p in points]
    ys = [float(p[1]) + 0.0 for p in points]
    r = max(xs) - min(xs)
    if r == 0:
        return "zero_x_range"
    s = ((max(ys) - min(ys)) / r) / 2
    bits = np.zeros((2, L), dtype=np.uint32)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        for c, v in enumerate(((x - min(xs)) / r - 0.5, (y - min(ys)) / r - s)):
            try:
                bits[c, i] = struct.unpack("<I", struct.pack("<f", v))[0]
            except OverflowError:
                return "encoding_overflow"
            if not math.isfinite(v):
                return "encoding_overflow"
    return bits


def code_of(points) -> str:
    try:
        encode(points)
    except errors.EncodingError as err:
        return err.code
    return ""


# --- each rule, by example -----------------------------------------------------------------

@pytest.mark.parametrize("points", [
    [[1.0, 2.0, 3.0], [2.0, 3.0]],
    [[1.0], [2.0, 3.0]],
    [[1.0, "2"], [2.0, 3.0]],
    [[1.0, None], [2.0, 3.0]],
    [[True, 1.0], [2.0, 3.0]],
    [1.0, 2.0],
    "12",
    np.zeros((3, 3)),
    np.zeros(4),
])
def test_bad_point(points):
    with pytest.raises(errors.BadPoint, match="bad_point"):
        encode(points)


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_points(n):
    with pytest.raises(errors.TooFewPoints, match=f"got {n}"):
        encode([[float(i), 0.0] for i in range(n)])


def test_too_many_points_is_an_error_not_a_truncation():
    with pytest.raises(errors.TooManyPoints, match="got 101"):
        encode([[float(i), 0.0] for i in range(L + 1)])


def test_exactly_l_points_encode():
    assert encode([[float(i), 0.0] for i in range(L)]).shape == (2, L)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("channel", [0, 1])
def test_non_finite(bad, channel):
    points = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
    points[1][channel] = bad
    with pytest.raises(errors.NonFiniteValue, match="point 1"):
        encode(points)


def test_int_beyond_binary64_is_non_finite():
    with pytest.raises(errors.NonFiniteValue):
        encode([[0, 0], [1, 10**400]])


def test_unsorted_x_names_the_point():
    with pytest.raises(errors.UnsortedX, match="point 2: 5.0 -> 4.0"):
        encode([[0.0, 0.0], [5.0, 1.0], [4.0, 1.0]])


def test_equal_x_is_allowed_when_not_all_equal():
    assert encode([[0.0, 1.0], [0.0, 2.0], [1.0, 3.0]]).shape == (2, L)


def test_zero_x_range():
    with pytest.raises(errors.ZeroXRange, match="share x = 3.0"):
        encode([[3.0, 0.0], [3.0, 5.0]])


@pytest.mark.parametrize("points", [
    [[0.0, 0.0], [1.0, 1e300]],  # y range / x range beyond float32
    [[0.0, 0.0], [1e-300, 1e-260]],  # tiny x range amplifies y
    [[-1e308, 0.0], [1e308, 0.0]],  # x range overflows binary64 itself
])
def test_encoding_overflow(points):
    with pytest.raises(errors.EncodingOverflow, match="not finite in float32"):
        encode(points)


def test_rules_are_checked_in_contract_order():
    assert code_of([[1.0, float("nan")]] * (L + 1)) == "too_many_points"
    assert code_of([[float("nan"), 0.0]]) == "too_few_points"
    assert code_of([[1.0, float("nan")], [0.0, 0.0]]) == "non_finite"
    assert code_of([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]) == "unsorted_x"
    assert code_of([[1.0, 0.0], [1.0, 1e300]]) == "zero_x_range"


def test_codes_match_the_registry():
    assert errors.ERROR_CODES == ("bad_point", "too_few_points", "too_many_points", "non_finite",
                                  "unsorted_x", "zero_x_range", "encoding_overflow")


# --- the arithmetic ------------------------------------------------------------------------

def test_seed_example_matches_spec_arithmetic():
    assert np.array_equal(encode(SEED_EXAMPLE).view(np.uint32), spec_bits(SEED_EXAMPLE))


@given(st.one_of(watch_logs(), sorted_points()))
@example(np.array([[0.0, -0.0], [1.0, 0.0]]))
def test_encode_matches_spec_arithmetic_bit_for_bit(points):
    expected = spec_bits(points)
    code = code_of(points)
    if isinstance(expected, str) or code:
        assert code in ("zero_x_range", "encoding_overflow")
        if code == "encoding_overflow":
            assert expected == "encoding_overflow"
        return
    assert np.array_equal(encode(points).view(np.uint32), expected)


def test_negative_zero_is_folded_to_positive_zero():
    out = encode([[-0.0, -0.0], [1.0, -0.0]])
    assert not np.signbit(out).any() or np.array_equal(np.signbit(out[0, :2]), [True, False])
    assert out[1, 0].view(np.uint32) == 0 and out[1, 1].view(np.uint32) == 0


# --- properties ----------------------------------------------------------------------------

@given(watch_logs(), power_of_two, offset, offset)
def test_encode_is_exactly_invariant_to_power_of_two_scaling(points, a, bx, by):
    base = encode(points)
    scaled = encode(points * a)
    assert np.array_equal(base.view(np.uint32), scaled.view(np.uint32))


@given(watch_logs(), positive_scale, offset, offset)
def test_encode_is_invariant_to_scaling_and_offsets_up_to_rounding(points, a, bx, by):
    """Bound: one float32 rounding step of either result, plus binary64 error in the new origin.

    x' = a*x + bx and y' = a*y + by are each rounded once in binary64 (relative 2^-53 of
    their magnitude); dividing by the new range r' = a*r amplifies that to
    2^-53 * max|x'| / r' per term, and a handful of terms contribute.
    """
    moved = points * a + np.array([bx, by])
    base, other = encode(points), encode(moved)
    mags = np.abs(moved).max(axis=0)
    r = moved[:, 0].max() - moved[:, 0].min()
    wide = 8 * 2.0**-53 * (mags.sum() / r + np.abs(points).max() / np.ptp(points[:, 0]))
    bound = 2 * np.spacing(np.maximum(np.abs(base), np.abs(other))) + wide
    note(f"max diff {np.abs(base - other).max()}, wide term {wide}")
    assert (np.abs(base.astype(np.float64) - other) <= bound).all()


@given(series_lists())
def test_padded_batch_and_single_encoders_agree_bit_for_bit(examples):
    width = max([L, *(len(e) for e in examples)])
    padded = np.zeros((len(examples), width, 2))
    for k, e in enumerate(examples):
        padded[k, : len(e)] = e
    batch = encode_padded(padded, np.array([len(e) for e in examples]))
    for k, e in enumerate(examples):
        assert batch.codes[k] == code_of(e)
        if not batch.codes[k]:
            assert np.array_equal(batch.values[k].view(np.uint32), encode(e).view(np.uint32))


@given(series_lists())
def test_encode_batch_equals_single_encodes(series):
    examples = [s for s in series if not code_of(s)]  # the valid ones
    assume(examples)
    batch = encode_batch(examples)
    assert batch.dtype == np.float32 and batch.shape == (len(examples), 2, L)
    for k, e in enumerate(examples):
        assert np.array_equal(batch[k].view(np.uint32), encode(e).view(np.uint32))


def test_encode_batch_names_the_failing_example():
    with pytest.raises(errors.UnsortedX, match="example 1: x decreases") as info:
        encode_batch([SEED_EXAMPLE, [[1.0, 0.0], [0.0, 0.0]]])
    assert info.value.index == 1


@given(st.one_of(watch_logs(), sorted_points()))
def test_output_is_finite_bounded_and_zero_padded(points):
    if code_of(points):
        return
    out = encode(points)
    n = len(points)
    assert out.dtype == np.float32 and out.shape == (2, L)
    assert np.isfinite(out).all()
    assert (out[0, :n] >= -0.5).all() and (out[0, :n] <= 0.5).all()
    assert out[0, 0] == -0.5 and out[0, n - 1] == 0.5
    assert not out[:, n:].view(np.uint32).any()  # +0.0 exactly, not -0.0


@given(any_points())
def test_each_input_gets_exactly_the_first_broken_rule(points):
    """Replays the contract's order independently and checks the encoder reports that rule."""
    n = len(points)
    with np.errstate(all="ignore"):
        expected = ("too_few_points" if n < 2 else "too_many_points" if n > L
                    else "non_finite" if not np.isfinite(points).all()
                    else "unsorted_x" if (np.diff(points[:, 0]) < 0).any()
                    else "zero_x_range" if np.ptp(points[:, 0]) == 0
                    else spec_bits(points) if isinstance(spec_bits(points), str) else "")
    assert code_of(points) == expected


@given(watch_logs(min_points=3), st.data())
def test_breaking_one_rule_raises_that_rule_only(points, data):
    rule = data.draw(st.sampled_from(["too_many", "non_finite", "unsorted", "zero_range",
                                      "overflow"]))
    p = points.copy()
    if rule == "too_many":
        p = np.concatenate([p, p[-1] + np.arange(1, L + 2 - len(p) + 1)[:, None]])
        expected = errors.TooManyPoints
    elif rule == "non_finite":
        p[data.draw(st.integers(0, len(p) - 1)), data.draw(st.integers(0, 1))] = float("nan")
        expected = errors.NonFiniteValue
    elif rule == "unsorted":
        p[[0, -1], 0] = p[[-1, 0], 0]
        expected = errors.UnsortedX
    elif rule == "zero_range":
        p[:, 0] = p[0, 0]
        expected = errors.ZeroXRange
    else:
        p[-1, 1] = p[0, 1] + 1e40 * np.ptp(p[:, 0])
        expected = errors.EncodingOverflow
    with pytest.raises(errors.EncodingError) as info:
        encode(p)
    assert type(info.value) is expected


def test_as_points_accepts_integer_arrays_and_lists():
    assert as_points(np.array([[1, 2], [3, 4]])).dtype == np.float64
    assert as_points([(1, 2.5), (3, 4)]).tolist() == [[1.0, 2.5], [3.0, 4.0]]


# --- decode --------------------------------------------------------------------------------

def test_decode_thresholds_strictly_and_ignores_the_last_point():
    p = np.zeros(L, dtype=np.float32)
    p[[0, 3, 5, 6, 9]] = [0.9, 0.5, 0.51, 0.99, 0.99]
    assert decode(p, n=7) == [0, 5]  # 3 is at the threshold; 6 is the last point (n - 1)
    assert decode(p, n=10, threshold=0.95) == [6]


def test_decode_rejects_wrong_shape():
    with pytest.raises(ValueError, match="wrong shape"):
        decode(np.zeros(L + 1), n=5)


def test_decision_mask_marks_positions_before_the_last_point():
    mask = decision_mask(np.array([2, L]))
    assert mask[0].tolist() == [True] + [False] * (L - 1)
    assert mask[1].sum() == L - 1
