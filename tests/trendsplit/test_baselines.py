"""The non-neural baselines find obvious breaks and tune their penalty."""

import numpy as np
import pytest

from trendsplit import baselines, data
from trendsplit.metrics import score


def two_segments():
    x = np.arange(30, dtype=float) * 0.5 + 19_000
    y = np.where(np.arange(30) < 15, 5.0 * (x - x[0]), 3.0 * (x - x[15]))
    return np.column_stack([x, y + np.random.default_rng(0).normal(0, 0.3, 30)])


@pytest.mark.parametrize("detector", [baselines.brute_force, baselines.pelt, baselines.binseg, baselines.pelt_log_n])
def test_a_clear_reset_is_found_at_the_last_point_before_it(detector):
    assert detector(two_segments(), penalty=20.0) == [14]


@pytest.mark.parametrize("detector", [baselines.brute_force, baselines.pelt, baselines.binseg, baselines.pelt_log_n])
def test_a_straight_line_has_no_break(detector):
    p = two_segments()[:15]
    assert detector(p, penalty=20.0) == []


def test_tuning_picks_a_penalty_that_scores_well():
    logs = data.dataset(60, seed=3).logs
    penalty = baselines.tune(baselines.brute_force, logs)
    tuned = score([baselines.brute_force(log.points, penalty) for log in logs], [log.breaks for log in logs], 1)
    tiny = score([baselines.brute_force(log.points, 1e-3) for log in logs], [log.breaks for log in logs], 1)
    assert tuned.f1 > tiny.f1 and tuned.f1 > 0.6


def test_a_tuned_penalty_is_remembered_per_data_and_code(tmp_path):
    cache = tmp_path / "tuned.json"
    said = []
    first = baselines.tuned("brute", baselines.brute_force, 1, 20, baselines.PENALTIES[:4], cache, said.append)
    assert any("penalty 4/4" in m for m in said)  # tuning shows its progress
    said.clear()
    again = baselines.tuned("brute", baselines.brute_force, 1, 20, baselines.PENALTIES[:4], cache, said.append)
    assert again == first and any("from" in m for m in said) and not any("penalty 1/4" in m for m in said)
    said.clear()
    baselines.tuned("brute", baselines.brute_force, 2, 20, baselines.PENALTIES[:4], cache, said.append)  # other data
    assert any("penalty 1/4" in m for m in said)
    cache.write_text("not json")
    assert baselines.tuned("brute", baselines.brute_force, 1, 20, baselines.PENALTIES[:4], cache) == first
