"""Split scores: exact and within-one matching, one-to-one."""

import pytest

from trendsplit.metrics import matched, score


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
