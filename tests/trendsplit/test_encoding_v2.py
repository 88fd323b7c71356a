"""Encoding v2: v1's channels unchanged, the step channels to the bit, and v1's rules in v1's order."""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.trendsplit.strategies import any_points, series_lists, sorted_points, watch_logs
from trendsplit import errors
from trendsplit.encoding import CHANNELS, L, encode, encode_batch, encode_padded

FP16_SMALLEST_NORMAL = float(np.finfo(np.float16).tiny)  # 2^-14, from numpy's own table
FP16_MAX = float(np.finfo(np.float16).max)


def f32_bits(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0]


def spec_steps(points) -> tuple[list[int], list[int]]:
    """The v2 step rule (docs/trendsplit/encodings.md) in Python floats: subtract, clamp to +-100, flush |d| < 2^-14."""
    xs = [float(p[0]) + 0.0 for p in points]
    ys = [float(p[1]) + 0.0 for p in points]

    def rule(d: float) -> float:
        d = min(max(d, -100.0), 100.0)
        return 0.0 if abs(d) < 2.0**-14 else d

    dy = [f32_bits(rule(ys[i + 1] - ys[i])) for i in range(len(ys) - 1)] + [0]
    dx = [f32_bits(rule(xs[i + 1] - xs[i])) for i in range(len(xs) - 1)] + [0]
    return dy, dx


def code_of(points, version: int) -> str:
    try:
        encode(points, version)
    except errors.EncodingError as err:
        return err.code
    return ""


def test_seed_example_by_hand():
    out = encode([[0.0, 0.0], [1.0, 5.0], [1.0, 500.0], [3.0, -1.0]], version=2)
    assert out.shape == (4, L)
    assert out[2, :4].tolist() == [5.0, 100.0, -100.0, 0.0]  # 495 and -501 clamp to the limit
    assert out[3, :4].tolist() == [1.0, 0.0, 2.0, 0.0]


@given(st.one_of(watch_logs(), sorted_points()))
@example(np.array([[0.0, 0.0], [np.nextafter(2.0**-14, 0.0), 2.0**-14], [1.0, 0.0]]))
@example(np.array([[0.0, -0.0], [1.0, 0.0]]))
def test_step_channels_match_the_spec_bit_for_bit(points):
    if code_of(points, 2):
        return
    out = encode(points, version=2).view(np.uint32)
    n = len(points)
    dy, dx = spec_steps(points)
    assert out[2, :n].tolist() == dy
    assert out[3, :n].tolist() == dx


@given(st.one_of(watch_logs(), sorted_points(), any_points()))
def test_v2_keeps_v1s_channels_and_rules(points):
    code = code_of(points, 1)
    assert code_of(points, 2) == code
    if not code:
        assert np.array_equal(encode(points, 2)[:2].view(np.uint32), encode(points).view(np.uint32))


@given(st.one_of(watch_logs(), sorted_points()))
def test_every_step_value_is_a_normal_float16_or_zero(points):
    if code_of(points, 2):
        return
    raw = encode(points, version=2)[2:]
    steps = np.abs(raw.astype(np.float64))
    nonzero = steps[steps != 0]
    assert (nonzero >= FP16_SMALLEST_NORMAL).all() and (nonzero <= 100.0).all() and FP16_MAX > 100.0
    assert not np.signbit(raw[raw == 0]).any()  # zeros are +0.0


@given(st.one_of(watch_logs(), sorted_points()))
def test_last_reading_and_padding_are_positive_zero(points):
    if code_of(points, 2):
        return
    out = encode(points, version=2).view(np.uint32)
    n = len(points)
    assert not out[2:, n - 1:].any()
    assert not out[:, n:].any()


@given(watch_logs())
def test_dy_flips_sign_exactly_when_y_is_negated(points):
    a = encode(points, version=2)
    b = encode(points * np.array([1.0, -1.0]), version=2)
    assert np.array_equal((-a[2]).view(np.uint32) & 0x7FFFFFFF, b[2].view(np.uint32) & 0x7FFFFFFF)
    assert np.array_equal(np.sign(a[2]), -np.sign(b[2]))
    assert np.array_equal(a[3].view(np.uint32), b[3].view(np.uint32))


@given(watch_logs(), st.integers(-4, 4))
def test_steps_are_invariant_to_offsets_that_keep_the_readings_exact(points, k):
    """Shifting x by whole days and y by whole seconds moves no binary64 difference of readings
    that sit on a 2^-20 grid (exact sums and differences), so the step channels are bit-identical."""
    grid = np.round(points * 2.0**20) / 2.0**20
    moved = grid + np.array([1000.0 * k, 60.0 * k])
    assert np.array_equal(encode(grid, 2)[2:].view(np.uint32), encode(moved, 2)[2:].view(np.uint32))


@given(series_lists())
def test_padded_batch_and_single_encoders_agree_bit_for_bit(examples):
    width = max([L, *(len(e) for e in examples)])
    padded = np.zeros((len(examples), width, 2))
    for k, e in enumerate(examples):
        padded[k, : len(e)] = e
    batch = encode_padded(padded, np.array([len(e) for e in examples]), version=2)
    assert batch.values.shape == (len(examples), 4, L)
    for k, e in enumerate(examples):
        assert batch.codes[k] == code_of(e, 2)
        if not batch.codes[k]:
            assert np.array_equal(batch.values[k].view(np.uint32), encode(e, 2).view(np.uint32))


@given(series_lists())
def test_encode_batch_equals_single_encodes(series):
    examples = [s for s in series if not code_of(s, 2)]  # the valid ones
    assume(examples)
    batch = encode_batch(examples, version=2)
    assert batch.dtype == np.float32 and batch.shape == (len(examples), 4, L)
    for k, e in enumerate(examples):
        assert np.array_equal(batch[k].view(np.uint32), encode(e, 2).view(np.uint32))


def test_huge_steps_clamp_and_v1_overflow_still_comes_first():
    with pytest.raises(errors.EncodingOverflow):
        encode([[0.0, -1e300], [1.0, 1e300]], version=2)
    out = encode([[0.0, -1e30], [1.0, 1e30], [2.0, 0.0]], version=2)
    assert out[2, :2].tolist() == [100.0, -100.0] and math.isfinite(out[1, 0])


@pytest.mark.parametrize("version", [0, 5, "2", 2.0, None, True])
def test_unknown_versions_are_refused_by_every_encoder(version):
    with pytest.raises(errors.UnsupportedEncodingVersion, match=re.escape(f"one of {sorted(CHANNELS)}")):
        encode([[0.0, 0.0], [1.0, 1.0]], version)
    with pytest.raises(errors.UnsupportedEncodingVersion):
        encode_batch([[[0.0, 0.0], [1.0, 1.0]]], version)
    with pytest.raises(errors.UnsupportedEncodingVersion):
        encode_padded(np.zeros((1, 2, 2)), [2], version)
