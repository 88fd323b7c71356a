"""The exact segmentation margin (encoding v4's candidate channel): the batch form against a scalar
reference written from the definitions, bit for bit, and against ruptures' PELT."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.trendsplit.strategies import sorted_points, watch_logs
from trendsplit import baselines, data, segmentation
from trendsplit.encoding import noise_channels

INF = math.inf


def reference(x: list[float], y: list[float], nu: float, k: float) -> list[float]:
    """s[c] for c = 1..n-1 in plain Python floats, one operation at a time; H by its definition (O(n^3))."""
    n = len(x)
    x, y = [float(v) for v in x], [float(v) for v in y]  # Python floats: binary64, overflow to inf silently
    xp = [v - x[0] for v in x]
    yp = [v - y[0] for v in y]
    sums = []
    for v in (xp, yp, [a * a for a in xp], [a * b for a, b in zip(xp, yp, strict=True)], [b * b for b in yp]):
        acc = [0.0]
        for t in v:
            acc.append(acc[-1] + t)
        sums.append(acc)

    def cost(a: int, b: int) -> float:
        m = float(b - a)
        sx, sy, sxx, sxy, syy = (s[b] - s[a] for s in sums)
        vy = syy - (sy * sy) / m
        vx = sxx - (sx * sx) / m
        cov = sxy - (sx * sy) / m
        c = vy - (cov * cov) / vx if vx > 0 else vy
        return INF if math.isnan(c) else (c if c > 0 else 0.0)

    beta = (k * nu) * nu
    f = [INF] * (n + 1)
    f[0] = -beta
    for j in range(2, n + 1):
        f[j] = min((f[i] + beta) + cost(i, j) for i in range(j - 1))
    b = [INF] * (n + 1)
    b[n] = -beta
    for i in range(n - 2, -1, -1):
        b[i] = min(cost(i, j) + (beta + b[j]) for j in range(i + 2, n + 1))
    out = []
    for c in range(1, n):
        g = (f[c] + beta) + b[c]
        h = min((((f[a] + beta) + cost(a, e)) + (beta + b[e]) for a in range(c) for e in range(c + 1, n + 1)),
                default=INF)
        out.append((h - g) / (nu * nu))
    return out


def batch(points: np.ndarray, k: float = segmentation.SEG_K, nu: float | None = None) -> np.ndarray:
    """The batch form on one log, padded to width 100 as encode_padded pads (the last reading repeated)."""
    n = len(points)
    xy = np.repeat(points[-1:], 100, axis=0)
    xy[:n] = points
    x, y, lengths = xy[None, :, 0], xy[None, :, 1], np.array([n])
    scale = noise_channels(x, y, lengths)[1] if nu is None else np.array([nu])
    return segmentation.margins(x, y, lengths, scale, k)[0, :n - 1], float(scale[0])


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(((a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))).all())


@given(watch_logs(max_points=24), st.sampled_from([4.0, 16.0, 26.0]))
def test_margins_match_the_scalar_reference_bit_for_bit(points, k):
    got, nu = batch(points, k)
    assert same_bits(got, reference(list(points[:, 0]), list(points[:, 1]), nu, k))


@given(sorted_points(min_points=2, max_points=12))
def test_margins_match_the_reference_on_extreme_values(points):
    got, nu = batch(points, 16.0, nu=1.0)  # overflow, +inf and NaN costs: the reference's rules
    assert same_bits(got, reference(list(points[:, 0]), list(points[:, 1]), nu, 16.0))


def test_positive_margins_are_pelt_decisions_at_the_same_absolute_penalty():
    logs = data.dataset(60, 5).logs + data.dataset(40, 6, habits=data.SHIFTS["sparse"].habits).logs
    for log in logs:
        s, _ = batch(log.points, 20.0, nu=1.0)  # beta = 20 s^2, PELT's standard penalty
        assert [int(i) for i in np.flatnonzero(s > 0)] == baselines.pelt(log.points, 20.0)


def test_a_clean_two_line_log_has_its_largest_margin_at_the_break():
    x = np.arange(20, dtype=np.float64)
    y = np.where(x < 12, 0.5 * x, 30.0 - 2.0 * x)  # the break between readings 11 and 12: cut 12, position 11
    y = y + np.where(np.arange(20) % 2 == 0, 0.25, -0.25)  # a little noise, so nu is not at its floor
    s, _ = batch(np.column_stack([x, y]))
    assert int(np.argmax(s)) == 11
    assert s[11] > 0 and (np.delete(s, 11) < 0).all()
