"""Encoding v3: v2's channels unchanged; the noise scale, the steps and residuals in noise scales to the bit."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.trendsplit.strategies import any_points, series_lists, sorted_points, watch_logs
from trendsplit import data, errors
from trendsplit.encoding import CHANNELS, L, encode, encode_batch, encode_padded

FP16_SMALLEST_NORMAL = float(np.finfo(np.float16).tiny)


def f32_bits(v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0]


def spec_noise_scale(points) -> float:
    """The v3 noise scale (docs/trendsplit/encodings.md) in plain Python floats, one operation at a time."""
    residuals = []
    for i in range(len(points)):
        e = spec_residual(points, i)
        if e is not None:
            residuals.append(float("inf") if abs(e) != abs(e) else abs(e))
    if not residuals:
        return 1.0
    return min(max(sorted(residuals)[(len(residuals) - 1) // 2], 2.0**-3), 2.0**5)


def spec_residual(points, i: int) -> float | None:
    """Reading i's residual from the line through its neighbours, None where the reading is not judged."""
    xs = [float(p[0]) + 0.0 for p in points]
    ys = [float(p[1]) + 0.0 for p in points]
    if not 0 < i < len(xs) - 1 or not xs[i + 1] - xs[i - 1] > 0:
        return None
    w = (xs[i] - xs[i - 1]) / (xs[i + 1] - xs[i - 1])
    product = (ys[i + 1] - ys[i - 1]) * w
    return (ys[i] - ys[i - 1]) - product


def spec_channels(points) -> tuple[list[int], list[int], list[int]]:
    """v3's channels 4 (step in noise scales), 5 (the scale) and 6 (residual in noise scales, 0 where not
    judged); steps and residuals clamped to +-100, |d| < 2^-14 flushed."""
    ys = [float(p[1]) + 0.0 for p in points]
    nu = spec_noise_scale(points)

    def rule(d: float) -> float:
        d = min(max(d, -100.0), 100.0)
        return 0.0 if abs(d) < 2.0**-14 else d

    dyn = [f32_bits(rule((ys[i + 1] - ys[i]) / nu)) for i in range(len(ys) - 1)] + [0]
    res = [f32_bits(0.0 if (e := spec_residual(points, i)) is None else rule(e / nu)) for i in range(len(ys))]
    return dyn, [f32_bits(nu)] * len(ys), res


def code_of(points, version: int) -> str:
    try:
        encode(points, version)
    except errors.EncodingError as err:
        return err.code
    return ""


def test_noise_scale_and_steps_by_hand():
    # residuals: reading 1 is 1 s above the line through readings 0 and 2, reading 2 is 2 s below the
    # line through 1 and 3, reading 3 lies on the line through 2 and 4 (x spacing 1, 1, 2, 2)
    points = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [4.0, 4.0], [6.0, 8.0]]
    out = encode(points, version=3)
    assert out.shape == (7, L)
    # e = 1, -2, 0: the lower median of their magnitudes [0, 1, 2] is 1, at every real position
    assert out[5, :5].tolist() == [1.0] * 5 and not out[5, 5:].any()
    assert out[4, :5].tolist() == [1.0, -1.0, 4.0, 4.0, 0.0]
    assert out[6, :5].tolist() == [0.0, 1.0, -2.0, 0.0, 0.0]  # the ends are not judged
    quartered = encode([[x, y / 4] for x, y in points], version=3)  # scale 0.25: steps and residuals in scales stay
    assert quartered[5, 0] == 0.25 and np.array_equal(quartered[4:7:2], out[4:7:2])


def test_the_lower_median_the_clamps_and_no_judged_reading():
    # four residuals 1, 1.25, 1.5, 0.75: the lower median is 1, not 1.125 (the mean of the middle two)
    assert encode([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 1.5], [4.0, 0.0], [5.0, 0.0]], 3)[5, 0] == 1.0
    assert encode([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]], 3)[5, 0] == 2.0**-3  # a flat log: the floor
    assert encode([[0.0, 0.0], [1.0, 1e6], [2.0, 0.0]], 3)[5, 0] == 2.0**5  # a misread by 1e6 s: the cap
    assert encode([[0.0, 0.0], [1.0, 7.0]], 3)[5, :2].tolist() == [1.0, 1.0]  # two readings: no residual
    # reading 1's neighbours share x (not judged); reading 2 sits at w = 0 of the line through 1 and 3: |e| = 2
    assert encode([[0.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]], 3)[5, 0] == 2.0


@given(st.one_of(watch_logs(), sorted_points()))
@example(np.array([[0.0, 0.0], [1.0, 2.0**-3 * 2.0**-14], [2.0, 0.0]]))
@example(np.array([[0.0, -0.0], [1.0, 0.0]]))
@example(np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 2.0], [1.0, 1e30], [2.0, -1e30]]))
def test_noise_channels_match_the_spec_bit_for_bit(points):
    if code_of(points, 3):
        return
    out = encode(points, version=3).view(np.uint32)
    n = len(points)
    dyn, nu, res = spec_channels(points)
    assert out[4, :n].tolist() == dyn
    assert out[5, :n].tolist() == nu
    assert out[6, :n].tolist() == res


@given(st.one_of(watch_logs(), sorted_points(), any_points()))
def test_v3_keeps_v2s_channels_and_v1s_rules(points):
    code = code_of(points, 1)
    assert code_of(points, 3) == code
    if not code:
        assert np.array_equal(encode(points, 3)[:4].view(np.uint32), encode(points, 2).view(np.uint32))


@given(st.one_of(watch_logs(), sorted_points()))
def test_every_v3_value_past_x_and_y_is_a_normal_float16_or_zero(points):
    if code_of(points, 3):
        return
    raw = encode(points, version=3)[2:]
    values = np.abs(raw.astype(np.float64))
    nonzero = values[values != 0]
    assert (nonzero >= FP16_SMALLEST_NORMAL).all() and (nonzero <= 100.0).all()
    assert not np.signbit(raw[raw == 0]).any()


@given(st.one_of(watch_logs(), sorted_points()))
def test_the_ends_of_the_step_and_residual_channels_and_the_padding_are_positive_zero(points):
    if code_of(points, 3):
        return
    out = encode(points, version=3).view(np.uint32)
    n = len(points)
    assert not out[2:5, n - 1:].any() and not out[6, n - 1:].any() and not out[:, n:].any()
    assert not out[6, 0]  # the first reading has one neighbour: not judged


@given(watch_logs())
def test_negating_y_negates_the_steps_and_residuals_in_noise_scales_and_keeps_the_scale_bit_for_bit(points):
    """The served net's mirror (`net.V3_MIRROR`) relies on it for channels 4-6 (v2's for the rest)."""
    from trendsplit.net import V3_MIRROR

    a = encode(points, version=3)
    b = encode(points * np.array([1.0, -1.0]), version=3)
    assert V3_MIRROR[4:] == (-1.0, 1.0, -1.0)
    for c in (4, 6):
        assert np.array_equal(b[c], -a[c]) and np.array_equal(np.signbit(b[c]), a[c] > 0)
    assert np.array_equal(a[5].view(np.uint32), b[5].view(np.uint32))


@given(watch_logs(), st.sampled_from([2.0**-2, 0.5, 2.0, 8.0]))
def test_scaling_y_by_a_power_of_two_scales_the_noise_scale_and_keeps_what_is_in_noise_scales(points, k):
    """Exact in binary64 while the scale stays inside its clamps: every residual scales by k."""
    a = encode(points, version=3)
    b = encode(points * np.array([1.0, k]), version=3)
    nu = float(a[5, 0])
    judged = (points[2:, 0] > points[:-2, 0]).any()  # else the scale is NU_NONE whatever y is
    if judged and min(nu, nu * k) > 2.0**-3 and max(nu, nu * k) < 2.0**5:
        assert b[5, 0] == np.float32(nu * k)
        assert np.array_equal(a[4:7:2].view(np.uint32), b[4:7:2].view(np.uint32))


def test_the_noise_scale_tracks_the_reading_noise_on_generated_logs():
    """What the channel is for: the median scale of 300 logs follows the generator's sigma (0.87 sigma at
    the median for normal noise, a little more with breaks among the residuals)."""
    for sigma in (0.3, 1.0, 3.0):
        logs = data.dataset(300, 11, 3, data.Habits(noise=sigma, long_share=1.0))
        ratio = np.median(logs.inputs[:, 5, 0]) / sigma
        assert 0.8 < ratio < 1.1, (sigma, ratio)


@given(series_lists())
def test_padded_batch_and_single_encoders_agree_bit_for_bit(examples):
    width = max([L, *(len(e) for e in examples)])
    padded = np.zeros((len(examples), width, 2))
    for k, e in enumerate(examples):
        padded[k, : len(e)] = e
    batch = encode_padded(padded, np.array([len(e) for e in examples]), version=3)
    assert batch.values.shape == (len(examples), 7, L)
    for k, e in enumerate(examples):
        assert batch.codes[k] == code_of(e, 3)
        if not batch.codes[k]:
            assert np.array_equal(batch.values[k].view(np.uint32), encode(e, 3).view(np.uint32))


@given(series_lists())
def test_encode_batch_equals_single_encodes(series):
    examples = [s for s in series if not code_of(s, 3)]  # the valid ones
    assume(examples)
    batch = encode_batch(examples, version=3)
    assert batch.dtype == np.float32 and batch.shape == (len(examples), 7, L)
    for k, e in enumerate(examples):
        assert np.array_equal(batch[k].view(np.uint32), encode(e, 3).view(np.uint32))


@pytest.mark.parametrize("version", [0, 5, "3", 3.0, None, True])
def test_unknown_versions_are_refused_by_every_encoder(version):
    with pytest.raises(errors.UnsupportedEncodingVersion, match=re.escape(f"one of {sorted(CHANNELS)}")):
        encode([[0.0, 0.0], [1.0, 1.0]], version)
    with pytest.raises(errors.UnsupportedEncodingVersion):
        encode_padded(np.zeros((1, 2, 2)), [2], version)
