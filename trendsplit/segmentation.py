"""Encoding v4's margin of the exact penalised segmentation at every cut, in binary64.

Why: PELT's line fits over every reading of a segment see small breaks a conv net misses on sparse
logs and logs with few breaks (docs/trendsplit/models.md, issue 31). This gives the net that view
as an input: for each cut between two readings, how much the best piecewise-linear segmentation
with a break there beats (> 0) or loses to (< 0) the best one without, in squared noise scales.
Every value is + - * / min and comparisons in a fixed order, so Swift can reproduce it to the bit
("Encoding v4" in docs/trendsplit/encodings.md); `margins` is the batch form, a scalar reference
lives in the tests.
"""

from __future__ import annotations

import numpy as np

#: The penalty per segment in squared noise scales (beta = SEG_K * nu * nu); PELT re-tuned for the
#: standard habits is about 26 nu^2 (penalty 20 s^2, nu about 0.87 s).
SEG_K = 16.0


def costs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C[b, a, e]: the squared error of the least-squares line through readings a..e-1, binary64
    [B, w + 1, w + 1], +inf where e - a < 2, from x, y [B, w] (each row's readings from its first).

    Prefix sums of x' = x - x[0], y' = y - y[0], x'x', x'y', y'y' (each product rounded once), each
    accumulated left to right from +0.0; then, in this order, for m = e - a and s* = S*[e] - S*[a]:
    vy = syy - (sy*sy)/m, vx = sxx - (sx*sx)/m, cov = sxy - (sx*sy)/m, C = vy - (cov*cov)/vx if
    vx > 0 else vy; a C below zero (or -0.0) is +0.0 and a NaN is +inf.
    """
    b, w = x.shape
    s = np.zeros((5, b, w + 1))
    with np.errstate(all="ignore"):  # overflow to inf is part of the rule (a NaN cost is +inf)
        xp = x - x[:, :1]
        yp = y - y[:, :1]
        v = np.stack([xp, yp, xp * xp, xp * yp, yp * yp])
        for k in range(w):  # left to right, one rounding per addition
            np.add(s[:, :, k], v[:, :, k], out=s[:, :, k + 1])
    idx = np.arange(w + 1)
    m = (idx[None, :] - idx[:, None]).astype(np.float64)  # m[a, e] = e - a, exact
    valid = m >= 2
    m = np.where(valid, m, 1.0)
    with np.errstate(all="ignore"):
        sx, sy, sxx, sxy, syy = (s[:, :, None, :] - s[:, :, :, None])  # [B, a, e] each
        vy = syy - (sy * sy) / m
        vx = sxx - (sx * sx) / m
        cov = sxy - (sx * sy) / m
        raw = np.where(vx > 0, vy - (cov * cov) / np.where(vx > 0, vx, 1.0), vy)
    c = np.where(raw > 0, raw, 0.0)  # -0.0 and below become +0.0
    c[np.isnan(raw)] = np.inf
    c[:, ~valid] = np.inf
    return c


def margins(x: np.ndarray, y: np.ndarray, lengths: np.ndarray, nu: np.ndarray, k: float = SEG_K) -> np.ndarray:
    """s[b, c - 1] for the cuts c = 1..n-1 (between readings c - 1 and c), binary64 [B, w - 1]; values at
    positions n - 1.. are meaningless (the caller zeroes them). See the module's docstring and the spec."""
    b, w = x.shape
    lengths = np.asarray(lengths)
    with np.errstate(all="ignore"):
        beta = (k * nu) * nu  # [B]
    c = costs(x, y)
    bb = beta[:, None]
    inf = np.inf
    f = np.full((b, w + 1), inf)
    f[:, 0] = -beta
    for j in range(2, w + 1):  # no NaN can arise: every term is >= -beta or +inf
        f[:, j] = ((f[:, :j - 1] + bb) + c[:, :j - 1, j]).min(axis=1)
    back = np.full((b, w + 1), inf)
    back[np.arange(b), lengths] = -beta
    for i in range(w - 2, -1, -1):
        done = i + 2 <= lengths  # rows whose B[i] is not fixed by B[n] = -beta
        cand = (c[:, i, i + 2:] + (bb + back[:, i + 2:])).min(axis=1)
        back[:, i] = np.where(i < lengths, np.where(done, cand, inf), back[:, i])
    with np.errstate(all="ignore"):
        g = (f[:, 1:w] + bb) + back[:, 1:w]  # [B, w - 1], cut c at column c - 1
        t = ((f[:, :, None] + bb[:, :, None]) + c) + (bb[:, :, None] + back[:, None, :])
        suffix = np.minimum.accumulate(t[:, :, ::-1], axis=2)[:, :, ::-1]  # [a, e0]: min over e >= e0
        prefix = np.minimum.accumulate(suffix, axis=1)  # [a0, e0]: min over a <= a0, e >= e0
        cuts = np.arange(1, w)
        h = prefix[:, cuts - 1, cuts + 1]  # a <= c - 1, e >= c + 1
        s = (h - g) / (nu * nu)[:, None]
    return s
