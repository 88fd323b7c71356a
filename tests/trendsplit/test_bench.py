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
