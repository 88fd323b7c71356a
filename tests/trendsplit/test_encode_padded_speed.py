"""The fast `encode_padded` against its first implementation, bit for bit and code for code.

`_reference_encode_padded` is that implementation as it stood before the speed-up (the padding
filled with each series' last reading, every rule checked over whole arrays, `np.select` for
the codes). It lives here, not in the package: it is the oracle, and it is slow.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.trendsplit.strategies import any_points, extreme_points, frames, sorted_points, watch_logs
from trendsplit import errors
from trendsplit.encoding import DX_LIMIT, DY_LIMIT, STEP_FLUSH, BatchEncoding, L, encode_padded
from trendsplit.strategies import build_frame

F32_MAX = float(np.finfo(np.float32).max)


# --- the oracle: encode_padded before the speed-up, verbatim but for names -------------------

def _reference_steps(v: np.ndarray, limit: float) -> np.ndarray:
    d = np.subtract(v[..., 1:], v[..., :-1])
    np.clip(d, -limit, limit, out=d)
    d[np.abs(d) < STEP_FLUSH] = 0.0
    return d


def _reference_encode_padded(xy: np.ndarray, lengths: np.ndarray, version: int) -> BatchEncoding:
    width = {1: 2, 2: 4}[version]
    with np.errstate(all="ignore"):  # signalling NaNs (raw bit patterns) warn when quietened
        xy = np.add(xy, 0.0, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.int64)
    b, m = xy.shape[:2]
    if m < L:
        xy = np.concatenate([xy, np.zeros((b, L - m, 2))], axis=1)
        m = L
    mask = np.arange(m)[None, :] < lengths[:, None]
    channels = np.ascontiguousarray(xy.transpose(0, 2, 1))
    if not mask.all():
        last = channels[np.arange(b), :, np.maximum(lengths - 1, 0)]
        channels = np.where(mask[:, None, :], channels, last[:, :, None])
    x, y = channels[:, 0], channels[:, 1]
    with np.errstate(all="ignore"):
        finite = np.isfinite(channels).all(axis=(1, 2))
        min_x, max_x = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
        min_y, max_y = y.min(axis=1, keepdims=True), y.max(axis=1, keepdims=True)
        step_ok = (x[:, 1:] >= x[:, :-1]).all(axis=1)
        r = max_x - min_x
        s = ((max_y - min_y) / r) / 2.0
        enc = np.empty((b, width, L), dtype=np.float32)
        for channel, (v, low, shift) in enumerate(((x, min_x, 0.5), (y, min_y, s))):
            wide = np.subtract(v[:, :L], low)
            wide /= r
            wide -= shift
            enc[:, channel] = wide
        if version == 2:
            enc[:, 2, :L - 1] = _reference_steps(y[:, :L], DY_LIMIT)
            enc[:, 3, :L - 1] = _reference_steps(x[:, :L], DX_LIMIT)
            enc[:, 2:, L - 1] = 0.0
    enc_mask = mask[:, None, :L]
    overflow = ~(np.isfinite(enc) | ~enc_mask).all(axis=(1, 2))
    rules = [
        (lengths < 2, errors.TooFewPoints.code),
        (lengths > L, errors.TooManyPoints.code),
        (~finite, errors.NonFiniteValue.code),
        (~step_ok, errors.UnsortedX.code),
        (r[:, 0] == 0, errors.ZeroXRange.code),
        (overflow, errors.EncodingOverflow.code),
    ]
    codes = np.select([c for c, _ in rules], [code for _, code in rules], default="")
    codes = codes.astype(object)
    np.copyto(enc, np.float32(0.0), where=~(enc_mask & (codes == "")[:, None, None]))
    return BatchEncoding(values=enc, codes=codes)


# --- inputs: every rule, signed zeros, overflow at float32's edge, any padding -----------------

#: Values where the arithmetic's corner cases live: signed zeros, subnormals, binary64's limits.
EDGES = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.0, -1.0, 0.5, 1e308, -1e308,
         1.7976931348623157e308, -1.7976931348623157e308, float("nan"), float("inf"), float("-inf")]


@st.composite
def zero_signs(draw) -> np.ndarray:
    """Short series of signed zeros, tiny values and ones, x sorted or not: -0.0 versus +0.0 and
    constant y (s = 0) are where an encoder that skips the -0.0 fold could differ."""
    n = draw(st.integers(0, 6))
    value = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.0, -1.0])
    xy = np.array(draw(st.lists(value, min_size=2 * n, max_size=2 * n)), dtype=np.float64).reshape(n, 2)
    if n and draw(st.booleans()):
        xy[:, 0] = xy[np.argsort(xy[:, 0], kind="stable"), 0]
    return xy


@st.composite
def near_overflow(draw) -> np.ndarray:
    """Sorted x with range r and a y range near 2 * r * float32's max: Y = +-(y range / r) / 2
    lands on either side of binary32's overflow threshold."""
    n = draw(st.integers(2, 8))
    r = draw(st.sampled_from([1.0, 1e-30, 3.0, 1e30, 2.0**-1000]))
    scale = draw(st.floats(1.999, 2.001)) * r * F32_MAX
    x = np.sort(np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))) * r
    x[0], x[-1] = 0.0, r
    y = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))) * scale
    y[draw(st.integers(0, n - 1))] = 0.0
    y[draw(st.integers(0, n - 1))] = scale
    offset = draw(st.sampled_from([0.0, -1e300, 1e300, -scale]))
    return np.column_stack([x, y + offset])


series = st.one_of(watch_logs(min_points=1, max_points=L + 5), any_points(), extreme_points(),
                   sorted_points(min_points=0, max_points=L), zero_signs(), near_overflow())
padding = st.sampled_from([0.0, -0.0, float("nan"), float("inf"), -1e308, 7.0, "garbage"])


@st.composite
def padded_batches(draw) -> tuple[np.ndarray, np.ndarray, int]:
    """B series (0-12) in an [B, M, 2] array with any M that holds them (below and above L),
    the rows past each length filled with anything, and a version."""
    examples = draw(st.lists(series, min_size=0, max_size=12))
    lengths = np.array([len(e) for e in examples], dtype=np.int64)
    m = max([0, *lengths.tolist()]) + draw(st.sampled_from([0, 0, 1, 7, 60]))
    fill = draw(padding)
    if fill == "garbage":
        xy = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(0, 1e3, (len(examples), m, 2))
    else:
        xy = np.full((len(examples), m, 2), fill)
    for k, e in enumerate(examples):
        xy[k, :len(e)] = e
    return xy, lengths, draw(st.sampled_from([1, 2]))


def assert_same(xy: np.ndarray, lengths: np.ndarray, version: int) -> None:
    want = _reference_encode_padded(xy, lengths, version)
    got = encode_padded(xy, lengths, version)
    assert got.codes.dtype == object and got.codes.shape == want.codes.shape
    assert list(got.codes) == list(want.codes), f"codes differ: {list(got.codes)} != {list(want.codes)}"
    assert got.values.dtype == np.float32 and got.values.shape == want.values.shape
    differ = np.argwhere(got.values.view(np.uint32) != want.values.view(np.uint32))
    assert differ.size == 0, f"first differing bit pattern at [b, c, i] = {differ[0].tolist()}"


# --- the properties ----------------------------------------------------------------------------

@given(padded_batches())
@example((np.zeros((0, 0, 2)), np.zeros(0, dtype=np.int64), 1))
@example((np.zeros((3, 0, 2)), np.zeros(3, dtype=np.int64), 2))
@example((np.array([[[-0.0, -0.0], [1.0, -0.0]]]), np.array([2]), 1))  # constant y of -0.0: s = 0
@example((np.array([[[0.0, 0.0], [1.0, -0.0]]]), np.array([2]), 2))  # y range -0.0 - +0.0
@example((np.array([[[0.0, -0.0], [1.0, 0.0]]]), np.array([2]), 1))  # Y = -0.0 - s, s = +0.0
@example((np.array([[[0.0, 0.0], [1.0, 2 * F32_MAX]]]), np.array([2]), 1))  # Y = +-F32_MAX exactly
@example((np.array([[[0.0, 0.0], [1.0, 2 * F32_MAX * (1 + 2**-24)]]]), np.array([2]), 1))  # just past it
@example((np.array([[[-1e308, 0.0], [1e308, 1.0]]]), np.array([2]), 1))  # x range overflows to inf
@example((np.array([[[0.0, -1e308], [1.0, 1e308]]]), np.array([2]), 2))  # y range overflows to inf
def test_encode_padded_matches_the_reference_bit_for_bit(case):
    assert_same(*case)


@given(frames(max_series=64), st.sampled_from([1, 2]))
def test_encode_padded_matches_the_reference_on_differential_frames(records, version):
    xy, lengths = build_frame(records)
    assert_same(xy, lengths, version)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, np.float16, ">f8"])
@given(st.lists(st.one_of(watch_logs(max_points=20), zero_signs()), min_size=1, max_size=6))
def test_encode_padded_matches_the_reference_for_every_input_dtype(dtype, examples):
    lengths = np.array([len(e) for e in examples], dtype=np.int64)
    xy = np.zeros((len(examples), max(lengths), 2))
    for k, e in enumerate(examples):
        xy[k, :len(e)] = e
    with np.errstate(all="ignore"):
        xy = xy.astype(dtype)
    for version in (1, 2):
        assert_same(xy, lengths, version)


@pytest.mark.parametrize(("n", "m"), [(n, m) for m in (60, L, L + 20) for n in (0, 1, 2, 59, 60, L - 1, L, L + 1)
                                      if n <= m])
def test_encode_padded_matches_the_reference_at_every_length_boundary(n, m):
    """Uniform batches (the fast path with no per-row padding) and ragged ones around L and M."""
    rng = np.random.default_rng(n * 1000 + m)
    xy = np.cumsum(rng.random((64, m, 2)), axis=1)
    for lengths in (np.full(64, n), rng.integers(0, n + 1, 64)):
        for version in (1, 2):
            assert_same(xy, lengths, version)


def test_encode_padded_matches_the_reference_on_every_short_series_of_signed_zeros():
    """Every 2- and 3-point series over x in {+0.0, -0.0, 1.0} and y in {+0.0, -0.0, 5e-324}:
    where skipping the -0.0 fold could leave a -0.0 in the output."""
    rows = [list(zip(xs, ys, strict=True)) + [(0.0, 0.0)] * (3 - n)
            for n in (2, 3)
            for xs in itertools.product([0.0, -0.0, 1.0], repeat=n)
            for ys in itertools.product([0.0, -0.0, 5e-324], repeat=n)]
    lengths = np.array([2] * 9 * 9 + [3] * 27 * 27)
    for version in (1, 2):
        assert_same(np.array(rows), lengths, version)


def test_encode_padded_leaves_its_input_alone():
    xy = np.array([[[-0.0, 1.0], [1.0, -0.0], [np.nan, 5.0]]])
    before = xy.copy()
    encode_padded(xy, np.array([2]), 2)
    assert np.array_equal(xy.view(np.uint64), before.view(np.uint64))
