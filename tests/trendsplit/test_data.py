"""The synthetic watch logs' generator: its habits as parameters, today's values as the default."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from trendsplit import data


def _digest(logs) -> str:
    h = hashlib.sha256()
    for log in logs:
        h.update(np.ascontiguousarray(log.points, dtype="<f8").tobytes())
        h.update(np.asarray(log.breaks, dtype="<i8").tobytes())
        h.update(log.kind.encode())
    return h.hexdigest()


#: sha256 of what the generator drew before its constants became `Habits` (commit ef47bbc, computed
#: there with the same `_digest`): 2,000 logs of seed 10000 (the held-out set's) and 500 parity logs of
#: seed 3. The same on this machine with glibc's FMA and AVX2 builds hidden and numpy's AVX-512 off.
BEFORE_HABITS = {
    "watch_log": "4618452d580e0dcd51812e4535f5f9de004bef227543da601a50d770496412a4",
    "parity_logs": "36ebd7d9fd3d4ea401a00ac9734bbbdb4e260ed7e082d85fe3335e5a4631a9aa",
}


def test_the_default_habits_draw_the_logs_drawn_before_habits_existed():
    rng = np.random.default_rng(10_000)
    assert _digest([data.watch_log(rng) for _ in range(2000)]) == BEFORE_HABITS["watch_log"]
    assert _digest(data.parity_logs(500, 3)) == BEFORE_HABITS["parity_logs"]
    rng = np.random.default_rng(10_000)
    explicit = [data.watch_log(rng, habits=data.Habits(noise=1.0, break_rate=1 / 15)) for _ in range(2000)]
    assert _digest(explicit) == BEFORE_HABITS["watch_log"]


def test_the_noise_habit_moves_the_noise_and_nothing_else():
    """The same seed under noise 3 s: the same times and breaks; y moves by 2 z, z the default's N(0, 1) noise."""
    plain, noisy = ([data.watch_log(np.random.default_rng(seed), habits=h) for seed in range(300)]
                    for h in (data.DEFAULT_HABITS, data.SHIFTS["noise-3s"].habits))
    z = []
    for a, b in zip(plain, noisy, strict=True):
        assert a.breaks == b.breaks and np.array_equal(a.points[:, 0], b.points[:, 0])
        z.append((b.points[:, 1] - a.points[:, 1]) / 2.0)
    z = np.concatenate(z)
    assert len(z) > 10_000 and abs(z.std() - 1.0) < 0.03 and abs(z.mean()) < 0.03


def _statistics(habits: data.Habits, count: int = 800) -> dict[str, float]:
    rng = np.random.default_rng(7)
    logs = [data.watch_log(rng, habits=habits) for _ in range(count)]
    gaps = np.concatenate([np.diff(log.points[:, 0]) for log in logs])
    readings = sum(len(log.points) - 1 for log in logs)
    return {"breaks per reading": sum(len(log.breaks) for log in logs) / readings,
            "share of gaps under a day": float((gaps < 1.0).mean()),
            "median gap, hours": float(np.median(gaps)) * 24,
            "shortest log": min(len(log.points) for log in logs)}


def test_each_shift_moves_the_statistic_it_names():
    base = _statistics(data.DEFAULT_HABITS)
    assert abs(base["breaks per reading"] - 1 / 15) < 0.005 and base["shortest log"] == 2
    shifted = {name: _statistics(s.habits) for name, s in data.SHIFTS.items()}
    assert abs(shifted["fewer-resets"]["breaks per reading"] - 1 / 40) < 0.003
    assert abs(shifted["more-resets"]["breaks per reading"] - 1 / 7) < 0.008
    assert shifted["long"]["shortest log"] == 80
    assert shifted["sparse"]["share of gaps under a day"] < 0.5 * base["share of gaps under a day"]
    assert shifted["bursty"]["median gap, hours"] < 2.0 < base["median gap, hours"]


@pytest.mark.parametrize("change, field", [({"noise": 0.0}, "noise"), ({"noise": float("nan")}, "noise"),
                                           ({"break_rate": 1.5}, "break_rate"),
                                           ({"same_day_share": -0.1}, "same_day_share"),
                                           ({"long_lengths": (1, 50)}, "long_lengths"),
                                           ({"short_lengths": (30, 20)}, "short_lengths"),
                                           ({"long_lengths": (80, 101)}, "long_lengths")])
def test_impossible_habits_are_refused_naming_the_field(change, field):
    with pytest.raises(ValueError, match=f"habits: {field} "):
        replace(data.DEFAULT_HABITS, **change)


def test_a_mixture_draws_habits_per_log_within_its_ranges_and_keeps_the_defaults_share():
    mixture = data.Mixture()
    rng = np.random.default_rng(3)
    drawn = [mixture.for_log(rng) for _ in range(4000)]
    defaults = sum(h is data.DEFAULT_HABITS for h in drawn) / len(drawn)
    assert abs(defaults - mixture.default_share) < 0.03
    others = [h for h in drawn if h is not data.DEFAULT_HABITS]
    for name in ("noise", "break_rate", "stop_share", "same_day_share", "same_day_gap", "multi_day_gap", "long_share"):
        low, high = getattr(mixture, name)
        values = np.array([getattr(h, name) for h in others])
        assert low <= values.min() and values.max() <= high, name
        assert values.min() < low + 0.1 * (high - low) and values.max() > high - 0.1 * (high - low), name
    noise = np.log([h.noise for h in others])  # log-uniform: the log's quartiles split its range evenly
    assert np.allclose(np.percentile(noise, [25, 50, 75]), np.log(0.3) + np.log(5 / 0.3) * np.array([.25, .5, .75]),
                       atol=0.1)


def test_every_shifted_set_lies_inside_the_training_mixture():
    mixture = data.TRAINING_HABITS["mixture"]
    for shift in data.SHIFTS.values():
        for name in ("noise", "break_rate", "stop_share", "same_day_share", "same_day_gap", "multi_day_gap"):
            low, high = getattr(mixture, name)
            assert low <= getattr(shift.habits, name) <= high, (shift.name, name)


def test_a_dataset_from_a_mixture_is_seeded():
    a, b = (data.dataset(50, 9, habits=data.Mixture()) for _ in range(2))
    assert _digest(a.logs) == _digest(b.logs) != _digest(data.dataset(50, 9).logs)
