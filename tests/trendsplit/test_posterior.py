"""`trendsplit.posterior`: the break posterior against a sum over every segmentation written out, the gaps'
densities against numerical integration, and planted breaks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import integrate
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from trendsplit import data, posterior


def _written_out(points: np.ndarray) -> np.ndarray:
    """P(break after each reading) by listing every set of breaks and every habits row and base rate, each
    log's likelihood a multivariate normal with the covariance the generator implies (no prefix sums, no
    forward-backward)."""
    t = points[:, 0] - points[0, 0]
    y = points[:, 1]
    n = len(t)
    g = np.diff(t)
    base = -0.5 * (posterior.BASE_RATES / posterior.BASE_RATE_SD) ** 2
    base -= logsumexp(base)
    joint = []  # (breaks, log weight) over every configuration
    for breaks in itertools.product((False, True), repeat=n - 1):
        starts = [0] + [i + 1 for i, b in enumerate(breaks) if b]
        segment = np.cumsum([False, *breaks])
        first = np.array(starts)[segment]
        d = t - t[first]
        per_row = []
        for noise, rate, habits, share in posterior.ROWS:
            plain, broken = posterior._gap_logs(g, habits)
            gaps = sum(np.log(rate) + broken[i] if b else np.log(1 - rate) + plain[i] for i, b in enumerate(breaks))
            cov = noise**2 * np.eye(n)
            for s, j in enumerate(starts):
                inside = segment == s
                offset_var = posterior.FIRST_OFFSET_SD**2 if j == 0 else posterior.OFFSET_SD**2
                cov += np.outer(inside, inside) * offset_var
                cov += np.outer(d * inside, d * inside) * posterior.SEGMENT_RATE_SD**2
            likes = multivariate_normal.logpdf(y[None] - posterior.BASE_RATES[:, None] * d[None], cov=cov)
            per_row.append(np.log(share) + gaps + logsumexp(base + likes))
        joint.append((np.array(breaks), logsumexp(per_row)))
    weights = np.array([w for _, w in joint])
    weights = np.exp(weights - logsumexp(weights))
    return sum(w * b for (b, _), w in zip(joint, weights, strict=True))


def test_the_model_and_its_prior_are_the_generators():
    """posterior.py repeats them (the encoding must not import the generator): any change to one shows here."""
    for name in ("FIRST_OFFSET_SD", "OFFSET_SD", "BASE_RATE_SD", "SEGMENT_RATE_SD", "STOP_DAYS"):
        assert getattr(posterior, name) == getattr(data, name), name
    assert posterior.DEFAULT_HABITS._asdict() == {k: getattr(data.DEFAULT_HABITS, k)
                                                  for k in posterior.Habits._fields}
    mixture = data.Mixture()
    ours = (posterior.DEFAULT_SHARE, posterior.NOISE_RANGE, posterior.BREAK_RATE_RANGE, posterior.SAME_DAY_GAP_RANGE,
            posterior.MULTI_DAY_GAP_RANGE)
    assert ours == (mixture.default_share, mixture.noise, mixture.break_rate, mixture.same_day_gap,
                    mixture.multi_day_gap)
    assert np.mean(mixture.same_day_share) == 0.5 == np.mean(mixture.stop_share)  # uniform: their means are used


@pytest.mark.parametrize("seed", [0, 1])
def test_the_posterior_equals_the_sum_over_every_segmentation_written_out(seed):
    rng = np.random.default_rng(seed)
    log = data.watch_log(rng, n=6, habits=data.Habits(break_rate=0.3))
    np.testing.assert_allclose(posterior.break_probabilities(log.points), _written_out(log.points),
                               rtol=1e-9, atol=1e-12)


def test_a_reset_three_segments_apart_is_found_where_the_formulas_differ_most():
    """Readings a day and a minute apart, a reset between: the segment sums of d and d^2 span six decades."""
    points = np.array([[0.0, 10.0], [1.0, 16.1], [1.0007, 16.0], [2.0, 1.0], [2.5, 4.1], [4.0, 13.0]])
    np.testing.assert_allclose(posterior.break_probabilities(points), _written_out(points), rtol=1e-9, atol=1e-12)


def _density(g: float, same: float, same_mean: float, multi_mean: float) -> float:
    return same * np.exp(-g / same_mean) / same_mean + (1 - same) * np.exp(-g / multi_mean) / multi_mean


@pytest.mark.parametrize("g", [0.001, 0.3, 1.2, 2.5, 3.7, 9.0])
def test_the_gap_densities_of_given_habits_are_the_generators(g):
    """Without a break an exponential mixture; with one, a stop's uniform idle days convolved in."""
    h = posterior.DEFAULT_HABITS
    plain, broken = posterior._gap_logs(np.array([g]), h)
    expected_plain = _density(g, h.same_day_share, h.same_day_gap, h.multi_day_gap)
    low, high = posterior.STOP_DAYS
    idle = integrate.quad(lambda u: _density(g - u, h.same_day_share, h.same_day_gap, h.multi_day_gap)
                          / (high - low), low, min(high, g))[0] if g > low else 0.0
    expected_broken = (1 - h.stop_share) * expected_plain + h.stop_share * idle
    np.testing.assert_allclose(np.exp([plain[0], broken[0]]), [expected_plain, expected_broken], rtol=1e-7)


@pytest.mark.parametrize("g", [0.01, 0.5, 2.0, 6.0])
def test_the_gap_densities_over_the_range_average_the_mixtures_log_uniform_means(g):
    """The cells' midpoint rule against the integral over log-uniform mean gaps (within the rule's error)."""
    def averaged(bounds):
        lo, hi = np.log(bounds)
        return integrate.quad(lambda v: np.exp(-g / np.exp(v)) / np.exp(v), lo, hi)[0] / (hi - lo)

    expected = 0.5 * averaged(posterior.SAME_DAY_GAP_RANGE) + 0.5 * averaged(posterior.MULTI_DAY_GAP_RANGE)
    plain, _ = posterior._gap_logs(np.array([g]), None)
    assert np.exp(plain[0]) == pytest.approx(expected, rel=0.03)


def _line(days: np.ndarray, rate: float, offset: float, rng) -> np.ndarray:
    return offset + rate * (days - days[0]) + rng.normal(0.0, 1.0, len(days))


def test_a_planted_reset_is_certain_and_nothing_else_is_called_a_break():
    rng = np.random.default_rng(5)
    days = 20_000.0 + np.cumsum(rng.uniform(0.3, 1.5, 40))
    y = np.concatenate([_line(days[:20], 4.0, 3.0, rng), _line(days[20:], 4.5, 0.5, rng)])
    p = posterior.break_probabilities(np.column_stack([days, y]))
    assert p[19] > 0.99, p[19]
    assert np.delete(p, 19).max() < 0.05
    assert posterior.decide(np.column_stack([days, y])) == [19]


def test_a_straight_log_has_no_break():
    rng = np.random.default_rng(6)
    days = 20_000.0 + np.cumsum(rng.uniform(0.1, 2.0, 60))
    p = posterior.break_probabilities(np.column_stack([days, _line(days, -7.0, 2.0, rng)]))
    assert p.max() < 0.05


@pytest.mark.parametrize("n", [0, 1])
def test_a_log_without_two_readings_has_no_positions(n):
    assert posterior.break_probabilities(np.zeros((n, 2))).shape == (0,)


def test_the_log_odds_are_the_probabilities_odds_clamped():
    rng = np.random.default_rng(8)
    log = data.watch_log(rng, n=40, habits=data.Habits(noise=2.0))
    p, odds = posterior.break_probabilities(log.points), posterior.break_log_odds(log.points)
    inside = (p > 1e-6) & (p < 1 - 1e-6)
    assert inside.sum() >= 10
    np.testing.assert_allclose(odds[inside], np.log(p[inside] / (1 - p[inside])), rtol=1e-9, atol=1e-9)
    assert np.all(np.abs(odds) <= posterior.ODDS_LIMIT)
    assert np.all(odds[p >= 1 - 1e-9] == posterior.ODDS_LIMIT) and np.all(odds[p <= 1e-9] == -posterior.ODDS_LIMIT)


@pytest.mark.parametrize("points", [
    [[0.0, 0.0], [1.0, 2e5], [2.0, 3.0]],  # an offset no watch shows
    [[0.0, 0.0], [500.0, 2.0], [1000.5, 3.0]],  # a log over three years long
    [[0.0, -1e300], [1.0, 1e300]],  # squares beyond binary64
], ids=["offset", "span", "huge"])
def test_log_odds_outside_what_a_watch_gives_are_zero(points):
    odds = posterior.break_log_odds(np.array(points))
    assert odds.shape == (len(points) - 1,) and not odds.any()
