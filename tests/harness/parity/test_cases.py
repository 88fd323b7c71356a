"""Parity in chunks: the same cases, figures and verdicts as judging everything at once, with
memory flat in the number of cases."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from harness import api
from harness.backends import parse_backends
from harness.backends.pytorch import TorchBackend
from harness.parity import cases as chunking
from harness.parity import steps
from harness.parity.compare import compare, merge
from harness.parity.tolerances import FP16, FP32
from harness.results import feeds_sha256


def _without_mean(d: dict) -> str:
    """A comparison's figures but its mean (summed in another order), NaN equal to NaN."""
    return json.dumps({k: v for k, v in d.items() if k != "mean_abs"}, sort_keys=True)


@given(st.integers(2, 40), st.integers(1, 39), st.integers(0, 2**32 - 1), st.sampled_from([FP32, FP16]),
       st.sampled_from(["threshold", "argmax", "none"]))
def test_merged_comparisons_equal_one_comparison_of_all_cases(n, cut, seed, policy, decision):
    cut = min(cut, n - 1)
    rng = np.random.default_rng(seed)
    ref = rng.uniform(0, 1, (n, 7)).astype(np.float32)
    cand = (ref + rng.normal(0, 1e-3, ref.shape) * (rng.uniform(size=ref.shape) < 0.3)).astype(np.float32)
    cand[rng.uniform(size=ref.shape) < 0.02] = np.nan
    mask = rng.uniform(size=ref.shape) < 0.8
    inputs = rng.normal(0, 5, (n, 3)).astype(np.float32)

    def judged(s):
        return compare(ref[s], cand[s], policy=policy, decision=decision, decision_mask=mask[s], inputs=inputs[s])

    whole = judged(slice(None))
    merged = merge(judged(slice(0, cut)), judged(slice(cut, None)), cut)
    assert _without_mean(merged.to_dict()) == _without_mean(whole.to_dict())
    assert merged.mean_abs == pytest.approx(whole.mean_abs, rel=1e-12)
    assert np.array_equal(merged.abs_histogram, whole.abs_histogram)
    assert np.array_equal(merged.ulp_histogram, whole.ulp_histogram)


def _two_inputs():
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(2, 3)

        def forward(self, x, z):
            return self.a(x) + self.b(z)

    return api.describe("mix", api.seeded(Mix), inputs={"x": (None, 4), "z": (None, 2)},
                        outputs={"y": (None, 3)}, decision="argmax")


def test_chunks_are_the_models_own_cases_and_hash_as_joined(monkeypatch):
    spec = _two_inputs()
    assert np.array_equal(chunking.make(spec, 50, 3).feeds["x"], spec.make_cases(50, 3).feeds["x"])
    monkeypatch.setattr(chunking, "CHUNK", 16)
    joined = chunking.make(spec, 50, 3)
    assert [len(c) for _, c in chunking.chunks(spec, 50, 3)] == [16, 16, 16, 2]
    assert np.array_equal(joined.feeds["z"][:16], spec.make_cases(16, 3).feeds["z"])  # chunk 0 is the seed's own
    assert not np.array_equal(joined.feeds["z"][16:32], joined.feeds["z"][:16])
    digest = chunking.FeedsDigest(spec, 50, 3)
    for _, chunk in chunking.chunks(spec, 50, 3):
        digest.update(chunk)
    assert digest.finish() == feeds_sha256(joined.feeds)
    picked = chunking.take(spec, 50, 3, [49, 0, 17])
    assert np.array_equal(picked["x"], joined.feeds["x"][[49, 0, 17]])


def test_a_case_of_a_trillion_is_found_without_listing_the_chunks():
    spec, n = _two_inputs(), 10**12
    last = chunking.count(n) - 1
    assert chunking.size(n, last) == chunking.CHUNK
    picked = chunking.take(spec, n, 3, [n - 1, 0])
    assert np.array_equal(picked["x"][0], chunking.make_chunk(spec, last, chunking.CHUNK, 3).feeds["x"][-1])
    assert np.array_equal(picked["x"][1], spec.make_cases(chunking.CHUNK, 3).feeds["x"][0])


def test_streamed_parity_reports_what_holding_every_output_reports(series_model, series_export, tmp_path,
                                                                    monkeypatch):
    _, folder = series_export
    monkeypatch.setattr(chunking, "CHUNK", 64)
    backends = "torch,onnxruntime,coreml-emulated@fp16[fp16]"
    streamed = steps.parity(series_model, parse_backends(backends), n=200, seed=5, folder=folder)
    held = steps.parity(series_model, parse_backends(backends), n=200, seed=5, folder=folder, save=tmp_path / "run")
    a, b = streamed.to_dict(), held.to_dict()
    assert a["inputs"] == b["inputs"] and a["case_kinds"] == b["case_kinds"] and a["kinds"] == b["kinds"]
    assert [_without_mean(c) for c in a["comparisons"]] == [_without_mean(c) for c in b["comparisons"]]
    assert [c["mean_abs"] for c in a["comparisons"]] == pytest.approx([c["mean_abs"] for c in b["comparisons"]])
    assert a["figures"] == b["figures"] and a["diagnoses"] == b["diagnoses"]
    assert streamed.figures["worst_cases"] == held.figures["worst_cases"]
    assert a["comparisons"][1]["decisions_compared"] > 0 and a["comparisons"][1]["max_abs"] > 0


class _StopsAfterOneChunk(TorchBackend):
    """The torch backend, failing from its second batch on: a run that stops part way."""

    name = "stopping-torch"

    def run(self, feeds):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls > 1:
            raise RuntimeError("out of memory")
        return super().run(feeds)


def test_a_run_that_stops_part_way_fails_and_is_not_judged_on_part(series_model, series_export, monkeypatch):
    _, folder = series_export
    monkeypatch.setattr(chunking, "CHUNK", 32)
    backends = parse_backends("torch") + [_StopsAfterOneChunk()]
    report = steps.parity(series_model, backends, n=100, seed=0, folder=folder)
    assert report.status == "FAILED"
    assert report.runs[1].status == "failed" and "out of memory" in report.runs[1].reason
    assert report.comparisons == ()


def _peak(spec, n: int, folder) -> int:
    tracemalloc.start()
    try:
        report = steps.parity(spec, parse_backends("torch,onnxruntime"), n=n, seed=0, folder=folder)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert report


def test_memory_is_flat_in_the_number_of_cases(series_model, series_export, monkeypatch):
    _, folder = series_export
    monkeypatch.setattr(chunking, "CHUNK", 250)
    _peak(series_model, 10, folder)  # loads and first-call allocations out of the way
    small, large = _peak(series_model, 500, folder), _peak(series_model, 2_000, folder)
    # holding every output, 8,000 cases peaked at about 7x 1,000 (measured: 85 MB against 11 MB)
    assert large < 1.5 * small, f"peak traced memory {small / 1e6:.1f} MB at 500 cases, {large / 1e6:.1f} MB at 2,000"
