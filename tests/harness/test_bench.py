"""The benchmarks' baseline computes what it is compared with, and the tables render."""

import numpy as np

from harness import bench
from harness.encoding import encode
from models.trendsplit import data


def test_the_seed_loop_baseline_encodes_exactly_like_encoding_v1():
    rng = np.random.default_rng(0)
    for _ in range(50):
        points = data.watch_log(rng).points
        ours = encode(points)
        seed = bench.seed_encode(points.tolist()).numpy()
        assert np.array_equal(seed.view(np.uint32), ours.view(np.uint32))


def test_encoder_bench_reports_ratios_from_one_run():
    result = bench.Bench()
    bench.bench_encoder(result)
    rows = result.sections["encoder (60-point logs), per example"]
    assert [r["batch"] for r in rows] == [1, 1024]
    for r in rows:
        assert r["speedup (seed / encode_batch)"] == r["seed loop us"] / r["encode_batch us"]
    assert "speedup" in result.render()
