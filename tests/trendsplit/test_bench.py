"""The benchmarks' baseline computes what it is compared with, and the tables render."""

import numpy as np
import pytest

from trendsplit import bench, data
from trendsplit.encoding import encode


def test_the_seed_loop_baseline_encodes_exactly_like_encoding_v1():
    rng = np.random.default_rng(0)
    for _ in range(50):
        points = data.watch_log(rng).points
        ours = encode(points)
        seed = bench.seed_encode(points.tolist()).numpy()
        assert np.array_equal(seed.view(np.uint32), ours.view(np.uint32))


def test_encoder_bench_reports_ratios_of_the_timings_it_shows():
    result = bench.Bench()
    bench.bench_encoder(result, size=64, repeat=2)
    rows = result.sections["encoder (60-point logs), per example"]
    assert [r["batch"] for r in rows] == [1, 64]
    for r in rows:
        timed = [v for k, v in r.items() if k.endswith(" us") or k.endswith("(arrays)")]
        assert timed and all(np.isfinite(v) and v > 0 for v in timed)
        # The ratio is derived from the shown timings (rounding aside), not timed separately.
        assert r["speedup (seed / encode_batch)"] == pytest.approx(r["seed loop us"] / r["encode_batch us"], rel=1e-9)
        assert r["speedup (seed / encode_padded)"] == pytest.approx(
            r["seed loop us"] / r["encode_padded us (arrays)"], rel=1e-9
        )
    assert "speedup" in result.render()


@pytest.mark.parametrize(
    ("column", "expected"),
    [([0.5, 12.25, 5290.0, 29837.4], ["0.5", "12.2", "5,290", "29,837"]), ([1.0, 2.0], ["1", "2"])],
)
def test_a_column_uses_one_number_format(column, expected):
    result = bench.Bench()
    for v in column:
        result.add("s", {"value": v})
    cells = [line.strip() for line in result.render().splitlines()[2:]]
    assert cells == expected
    assert not any("e+" in c for c in cells)


def test_interleaved_timings_take_turns_so_noise_hits_every_candidate_alike():
    calls = []
    timed = bench.interleaved_timings({"base": lambda: calls.append("base"), "cand": lambda: calls.append("cand")},
                                      repeat=3, warmup=1)
    assert calls == ["base", "cand"] * 4  # one warm-up round, then three timed rounds in turns
    assert {k: len(v) for k, v in timed.items()} == {"base": 3, "cand": 3}
    assert all(s >= 0 for v in timed.values() for s in v)


def test_a_ratio_is_taken_within_each_round_then_summarised_over_rounds():
    rounds = bench.Rounds()
    # Fake seconds per call (three calls a round): each round's median is the middle call.
    rounds.add({"base": [1.0, 9.0, 0.5], "cand": [3.0, 3.0, 0.1]})  # medians 1 and 3: ratio 3
    rounds.add({"base": [2.0, 2.0, 2.0], "cand": [10.0, 9.0, 11.0]})  # 2 and 10: ratio 5
    rounds.add({"base": [3.0, 3.0, 3.0], "cand": [4.0, 4.0, 4.0]})  # 3 and 4: ratio 4/3
    assert rounds.ratios("cand", "base") == pytest.approx([3.0, 5.0, 4.0 / 3.0])
    assert rounds.summary("cand", "base") == pytest.approx((3.0, 4.0 / 3.0, 5.0))
    # The ratio of the medians over rounds (4 / 2) mixes the rounds' loads; the bench does not report it.
    assert rounds.seconds("cand") / rounds.seconds("base") == pytest.approx(2.0)
    assert rounds.summary("cand", "cand") == pytest.approx((1.0, 1.0, 1.0))
    assert all(np.isnan(v) for v in rounds.summary("cand", "absent"))


def test_timed_rounds_time_every_function_in_turns_in_every_round():
    calls = []
    rounds = bench.timed_rounds({"base": lambda: calls.append("base"), "cand": lambda: calls.append("cand")},
                                rounds=3, repeat=2, warmup=1)
    assert calls == ["base", "cand"] * (1 + 3 * 2)  # one warm-up turn, then two timed turns per round
    assert len(rounds.medians) == 3 and all(set(r) == {"base", "cand"} for r in rounds.medians)
    median, low, high = rounds.summary("cand", "base")
    assert low <= median <= high
