"""The exact probability of a break after each reading, under the generator's own model with the habits unknown.

Why: on sparse logs and with fewer breaks every net tied a PELT re-tuned for the set (issue 31). The
generator is a known Gaussian model, so the best any detector can do is its posterior: this computes it.
A log's readings lie, segment by segment, on lines: an offset at the segment's first reading
(N(0, 2^2); N(0, 5^2) for the log's first), a rate that is the watch's base rate (N(0, 6^2), shared by
its segments) plus N(0, 1.5^2) of its own, and reading noise N(0, sigma^2). A break comes before a
reading with chance rho; a stop (a share of the breaks) adds 1-3 idle days to the gap before it.

The habits are not known: half the prior is the default habits, half the range `data.Mixture` draws
from (trendsplit-v3's training mixture), the noise and the break rate on grids of log-uniform cells and
the gaps' densities averaged over the range. Given the base rate (on a grid) and the habits, segments are
independent, so the sum over every segmentation is a forward-backward pass over segment boundaries, each
segment's marginal likelihood in closed form from prefix sums (Bayesian linear regression on two
coefficients). Every exp and log is `portable_math`'s and every sum runs in index order, so the result
is the same on every machine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from trendsplit import portable_math as pm

# The model and its prior are the generator's (trendsplit/data.py), repeated here so that the encoding,
# which carries this as a channel (v4), does not import the generator; tests/trendsplit/test_posterior.py
# checks each against it. The watch: standard deviations of a log's first offset, a later segment's
# first, the base rate and a segment's rate about it; the idle days a stop adds.
FIRST_OFFSET_SD = 5.0
OFFSET_SD = 2.0
BASE_RATE_SD = 6.0
SEGMENT_RATE_SD = 1.5
STOP_DAYS = (1.0, 3.0)


class Habits(NamedTuple):
    """How a watch is read and logged (as `data.Habits`' fields of the same names)."""

    noise: float
    break_rate: float
    same_day_share: float
    stop_share: float
    same_day_gap: float
    multi_day_gap: float


DEFAULT_HABITS = Habits(noise=1.0, break_rate=1.0 / 15.0, same_day_share=0.6, stop_share=0.5, same_day_gap=0.25,
                        multi_day_gap=1.5)
#: `data.Mixture`: the share of logs with the default habits, and the others' ranges (log-uniform; the two
#: shares, uniform, average 0.5).
DEFAULT_SHARE = 0.5
NOISE_RANGE = (0.3, 5.0)
BREAK_RATE_RANGE = (1.0 / 50.0, 1.0 / 5.0)
SAME_DAY_GAP_RANGE = (1.0 / 48.0, 0.5)
MULTI_DAY_GAP_RANGE = (0.75, 4.0)
NOISE_CELLS = 4  # log-uniform cells over NOISE_RANGE
RATE_CELLS = 3  # log-uniform cells over BREAK_RATE_RANGE
GAP_CELLS = 8  # log-uniform cells over each mean gap, for the gaps' prior predictive density
#: The base rate's grid, s/day: five standard deviations each way (each segment's own rate spreads 1.5 s/day
#: about it). These grids (4 x 3 cells, 3 s/day) decide within +-0.005 F1 of 6 x 4 cells and 2 s/day on 300
#: validation logs of five sets (and 2 s/day within 0.002 of 0.25), at a third of the work; 3 x 2 cells and
#: 4 s/day lose 0.02 on bursty logs.
BASE_RATES = np.arange(-30.0, 30.0 + 1e-9, 3.0)
_LOG_2PI = float(pm.log(2.0 * np.pi))


def _cells(bounds: tuple[float, float], k: int) -> np.ndarray:
    """Midpoints (in log space) of k equal log-width cells over `bounds`: a log-uniform prior's grid."""
    edges = pm.log(np.asarray(bounds, dtype=np.float64))
    edges = edges[0] + (edges[1] - edges[0]) * np.arange(k + 1) / k
    return pm.exp((edges[:-1] + edges[1:]) / 2.0)


def _exponential(g: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The exponential densities of gaps g [n] under each mean [m], averaged over the means: [n]."""
    terms = pm.exp(-g[None, :] / means[:, None]) / means[:, None]
    return np.cumsum(terms, axis=0)[-1] / len(means)


def _stopped(g: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The density of gap + U(STOP_DAYS) for exponential gaps, averaged over the means: [n]."""
    low, high = STOP_DAYS
    upper = pm.exp(-np.maximum(g[None, :] - high, 0.0) / means[:, None])
    lower = pm.exp(-(g[None, :] - low) / means[:, None])
    terms = np.where(g[None, :] > low, (upper - lower) / (high - low), 0.0)
    return np.cumsum(terms, axis=0)[-1] / len(means)


def _gap_logs(g: np.ndarray, habits: Habits | None) -> tuple[np.ndarray, np.ndarray]:
    """log densities of each gap without a break and with one (a stop or a reset), under `habits`
    (None: averaged over the prior's range of gap habits, whose shares average one half)."""
    if habits is None:
        same, stop = 0.5, 0.5
        same_means = _cells(SAME_DAY_GAP_RANGE, GAP_CELLS)
        multi_means = _cells(MULTI_DAY_GAP_RANGE, GAP_CELLS)
    else:
        same, stop = habits.same_day_share, habits.stop_share
        same_means = np.array([habits.same_day_gap])
        multi_means = np.array([habits.multi_day_gap])
    plain = same * _exponential(g, same_means) + (1.0 - same) * _exponential(g, multi_means)
    idle = same * _stopped(g, same_means) + (1.0 - same) * _stopped(g, multi_means)
    broken = (1.0 - stop) * plain + stop * idle
    return pm.log(plain), pm.log(broken)


def _rows() -> list[tuple[float, float, Habits | None, float]]:
    """(noise, break rate, gap habits or None for the range's, prior weight) of each habits row."""
    d = DEFAULT_HABITS
    rows = [(d.noise, d.break_rate, d, DEFAULT_SHARE)]
    share = (1.0 - DEFAULT_SHARE) / (NOISE_CELLS * RATE_CELLS)
    for noise in _cells(NOISE_RANGE, NOISE_CELLS):
        for rate in _cells(BREAK_RATE_RANGE, RATE_CELLS):
            rows.append((float(noise), float(rate), None, share))
    return rows


ROWS = _rows()
#: The base rate's prior on its grid, normalised (log weights); the noises the rows hold, and each row's.
BASE_PRIOR = -0.5 * (BASE_RATES / BASE_RATE_SD) ** 2
BASE_PRIOR = BASE_PRIOR - pm.logsumexp(BASE_PRIOR, axis=0)
NOISES = sorted({noise for noise, *_ in ROWS})
NOISE_OF = np.array([NOISES.index(noise) for noise, *_ in ROWS])


def _segment_logs(t: np.ndarray, y: np.ndarray, variance: float) -> np.ndarray:
    """ll [G, n+1, n+1]: log marginal likelihood of readings j..k-1 as one segment (k > j) at each base
    rate of the grid; -inf where k <= j."""
    n = len(t)

    def prefix(v):
        return np.concatenate([[0.0], np.cumsum(v)])

    t1, t2, y1s, y2s, yts = prefix(t), prefix(t * t), prefix(y), prefix(y * y), prefix(y * t)
    j = np.arange(n + 1)[:, None]
    k = np.arange(n + 1)[None, :]
    valid = k > j
    m = np.where(valid, k - j, 1).astype(np.float64)
    tj = t[np.minimum(j, n - 1)]
    s1 = (t1[k] - t1[j]) - m * tj  # sums of d = t - t_j over the segment, and of d^2, y, y^2, y d
    s2 = (t2[k] - t2[j]) - 2.0 * tj * (t1[k] - t1[j]) + m * tj * tj
    y1, y2 = y1s[k] - y1s[j], y2s[k] - y2s[j]
    yd = (yts[k] - yts[j]) - tj * y1
    offset_var = np.where(j == 0, FIRST_OFFSET_SD**2, OFFSET_SD**2)
    rate_var = SEGMENT_RATE_SD**2
    a11 = 1.0 / offset_var + m / variance  # the coefficients' posterior precision
    a12 = s1 / variance
    a22 = 1.0 / rate_var + s2 / variance
    det = np.where(valid, a11 * a22 - a12 * a12, 1.0)
    b = BASE_RATES[:, None, None]
    r1, rd, r2 = y1 - b * s1, yd - b * s2, y2 - 2.0 * b * yd + b * b * s2  # residuals from the base rate's line
    u1, u2 = r1 / variance, rd / variance
    quad = r2 / variance - (a22 * u1 * u1 - 2.0 * a12 * u1 * u2 + a11 * u2 * u2) / det
    logdet = m * pm.log(variance) + pm.log(offset_var * rate_var) + pm.log(det)
    return np.where(valid, -0.5 * (quad + logdet + m * _LOG_2PI), -np.inf)


def break_probabilities(points: np.ndarray) -> np.ndarray:
    """P(break after reading i | the log) for i = 0 .. n-2 (float64 [n-1]); points [n, 2] are (days,
    seconds) in time order, as the generator's logs hold them."""
    return np.minimum(pm.exp(_log_probabilities(np.asarray(points, dtype=np.float64))), 1.0)


#: Encoding v4's channel: the log-odds clamped to +-ODDS_LIMIT (exact in float16; a probability within
#: 1.2e-7 of 0 or 1 either way), computed only for logs whose numbers a watch could give: offsets within
#: MAX_OFFSET seconds and a time span within MAX_SPAN days (beyond them squares and gap densities would
#: leave binary64's range); 0 elsewhere, and where the log-odds are not a number.
ODDS_LIMIT = 16.0
MAX_OFFSET = 1e5
MAX_SPAN = 1000.0


def break_log_odds(points: np.ndarray) -> np.ndarray:
    """log P(break after reading i) - log P(none), clamped to +-ODDS_LIMIT, for i = 0 .. n-2 (float64)."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n < 2 or not (np.max(np.abs(points[:, 1])) <= MAX_OFFSET and points[-1, 0] - points[0, 0] <= MAX_SPAN):
        return np.zeros(max(n - 1, 0))
    log_p = _log_probabilities(points)
    with np.errstate(invalid="ignore"):
        odds = log_p - pm.log(1.0 - np.minimum(pm.exp(log_p), 1.0))
    return np.clip(np.nan_to_num(odds, nan=0.0, posinf=ODDS_LIMIT, neginf=-ODDS_LIMIT), -ODDS_LIMIT, ODDS_LIMIT)


def _log_probabilities(points: np.ndarray) -> np.ndarray:
    """log P(break after reading i | the log), i = 0 .. n-2."""
    n = len(points)
    if n < 2:
        return np.zeros(0)
    t = points[:, 0] - points[0, 0]
    y = points[:, 1]
    g = np.diff(t)
    # [noise, base rate, j, k]: each segment's log likelihood, held both ways round for the two passes
    segment_logs = np.stack([_segment_logs(t, y, noise * noise) for noise in NOISES])
    segment_logs_by_end = np.ascontiguousarray(segment_logs.transpose(0, 1, 3, 2))
    gaps = {id(h): _gap_logs(g, h) for _, _, h, _ in ROWS}
    insides, starts, weights = [], [], []
    j = np.arange(n + 1)[:, None]
    k = np.arange(n + 1)[None, :]
    for _, rate, habits, share in ROWS:
        plain, broken = gaps[id(habits)]
        stay = np.concatenate([[0.0], pm.log(1.0 - rate) + plain])  # reading i continues its segment (i >= 1)
        stays = np.concatenate([[0.0], np.cumsum(stay)])
        insides.append(np.where(k > j, stays[np.minimum(k, n)] - stays[np.minimum(j + 1, n)], -np.inf))
        starts.append(np.concatenate([[0.0], pm.log(rate) + broken, [0.0]]))  # a segment starts at boundary b
        weights.append(pm.log(share) + BASE_PRIOR)
    inside = np.stack(insides)  # [row, j, k]: the gaps' terms of readings j+1 .. k-1 continuing
    inside_by_end = np.ascontiguousarray(inside.transpose(0, 2, 1))
    start = np.stack(starts)[:, None, :]  # [row, 1, boundary]
    prior = np.stack(weights)  # [row, base rate]
    rows, grid = prior.shape
    forward = np.full((rows, grid, n + 1), -np.inf)
    forward[:, :, 0] = 0.0
    for end in range(1, n + 1):  # segments j -> end, every j before it
        into = segment_logs_by_end[NOISE_OF, :, end, :end] + inside_by_end[:, None, end, :end]
        forward[:, :, end] = pm.logsumexp(forward[:, :, :end] + start[:, :, :end] + into, axis=2)
    backward = np.full((rows, grid, n + 1), -np.inf)
    backward[:, :, n] = 0.0
    for first in range(n - 1, -1, -1):  # segments first -> k, every k after it
        out = segment_logs[NOISE_OF, :, first, first + 1 :] + inside[:, None, first, first + 1 :]
        backward[:, :, first] = pm.logsumexp(out + start[:, :, first + 1 :] + backward[:, :, first + 1 :], axis=2)
    prior, forward, backward = prior.reshape(-1), forward.reshape(rows * grid, -1), backward.reshape(rows * grid, -1)
    starts_all = np.broadcast_to(start, (rows, grid, n + 1)).reshape(rows * grid, -1)
    evidence = pm.logsumexp(prior + backward[:, 0], axis=0)
    joint = pm.logsumexp(prior[:, None] + forward[:, 1:n] + starts_all[:, 1:n] + backward[:, 1:n], axis=0)
    return joint - evidence


def decide(points: np.ndarray, threshold: float = 0.5) -> list[int]:
    """The readings after which a break is more likely than `threshold`."""
    return [int(i) for i in np.flatnonzero(break_probabilities(points) > threshold)]
