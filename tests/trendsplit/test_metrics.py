"""Split scores: exact and within-one matching, one-to-one."""

import pytest

from trendsplit.metrics import matched, paired_bootstrap, score


def test_exact_and_within_one():
    assert matched([3, 10], [3, 11], 0) == 1
    assert matched([3, 10], [3, 11], 1) == 2


def test_matching_is_one_to_one():
    assert matched([4, 5], [5], 1) == 1  # two predictions cannot both claim one break
    assert matched([5], [4, 6], 1) == 1


def test_scores():
    s = score([[1, 5], [], [7]], [[1], [2], [8]], tolerance=1)
    assert (s.true_positives, s.predicted, s.actual) == (2, 3, 3)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)


def test_nothing_to_find_and_nothing_found_is_perfect():
    s = score([[], []], [[], []])
    assert s.precision == s.recall == 1.0 and s.f1 == 1.0


def test_paired_bootstrap_of_identical_predictions_is_zero_with_no_spread():
    preds, truths = [[1, 5], [], [7]], [[1], [2], [8]]
    assert paired_bootstrap(preds, preds, truths, tolerance=1, draws=200) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_spans_the_resamples_worked_out_by_hand():
    # Two logs, one break each: a finds both, b only the first. A resample is two logs drawn
    # with replacement, each pair with probability 1/4: both first (F1 1 - 1 = 0), both second
    # (1 - 0 = 1) or one of each (b: 1 hit, 1 predicted, 2 actual, F1 2/3; difference 1/3).
    # Both extremes are far more likely than 2.5%, so they are the interval's ends.
    diff, low, high = paired_bootstrap([[3], [4]], [[3], []], [[3], [4]], draws=2000, seed=1)
    assert diff == pytest.approx(1 / 3) and (low, high) == (0.0, 1.0)
