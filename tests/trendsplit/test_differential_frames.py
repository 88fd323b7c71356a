"""Batched Hypothesis differential: many series per example, one binary frame, shrinking to one series.

The frames are built from byte records (`trendsplit.strategies.build_frame`); the tests here
check the record layout, that a series never depends on its neighbours in a frame (else
shrinking would change the series it is shrinking), that frames agree with the real Swift
encoder, and that a disagreement still shrinks to one minimal series with its reproduction.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trendsplit.strategies import frames
from tests.trendsplit.test_differential import CHEAP_VERSIONS, POSTERIOR_VERSIONS, cases
from trendsplit import differential
from trendsplit.encoding import CHANNELS, BatchEncoding, L, encode, encode_padded
from trendsplit.strategies import FAMILIES, MAX_POINTS, RECORD, build_frame

VERSIONS = sorted(CHANNELS)
records = st.binary(min_size=RECORD, max_size=RECORD)


def test_an_all_zero_record_is_an_empty_series():
    xy, lengths = build_frame([bytes(RECORD)])
    assert lengths.tolist() == [0] and xy.shape == (1, 1, 2)


@given(size=st.integers(0, 255), band=st.integers(0, 255), rest=st.binary(min_size=RECORD - 3, max_size=RECORD - 3))
def test_bytes_one_and_two_give_the_number_of_points(size, band, rest):
    _, lengths = build_frame([bytes([0, size, band]) + rest])
    expected = size % (L + 1) if band < 224 else L + 1 + size % (MAX_POINTS - L)
    assert lengths.tolist() == [expected]


@given(frame=st.lists(records, min_size=2, max_size=20), k=st.integers(0, 19))
def test_a_series_is_the_same_alone_and_in_any_frame(frame, k):
    k %= len(frame)
    xy, lengths = build_frame(frame)
    alone, n = build_frame([frame[k]])
    assert n[0] == lengths[k]
    # bit patterns: NaN payloads and -0.0 must match too
    assert np.array_equal(alone[0, : n[0]].view(np.uint64), xy[k, : lengths[k]].view(np.uint64))
    assert not xy[k, lengths[k]:].any()  # zero padding


def test_frames_reach_every_family_and_every_error_code():
    rng = np.random.default_rng(0)
    recs = [bytes(r) for r in rng.integers(0, 256, (5_000, RECORD), dtype=np.uint8)]
    xy, lengths = build_frame(recs)
    with np.errstate(all="ignore"):
        codes = set(encode_padded(xy, lengths).codes.tolist())
    assert codes == {"", "non_finite", "unsorted_x", "zero_x_range", "too_many_points", "too_few_points",
                     "encoding_overflow"}
    assert {r[0] % len(FAMILIES) for r in recs} == set(range(len(FAMILIES)))


@pytest.mark.swift
@pytest.mark.parametrize("version", CHEAP_VERSIONS)
@given(frame=frames())
def test_swift_encoder_agrees_with_python_on_every_series_of_a_frame(swift_encoder, version, frame):
    codes = differential.check_frame(swift_encoder, frame, version)
    assert len(codes) == len(frame)


@pytest.mark.swift
@pytest.mark.parametrize("version", POSTERIOR_VERSIONS)
@settings(max_examples=max(5, settings.default.max_examples // 30))
@given(frame=frames(max_series=4))
def test_swift_encoder_agrees_with_python_on_every_series_of_a_frame_with_the_posterior(swift_encoder, version, frame):
    codes = differential.check_frame(swift_encoder, frame, version)
    assert len(codes) == len(frame)


def perturbed_python(xy: np.ndarray, lengths: np.ndarray, version: int) -> BatchEncoding:
    """Python's `encode_padded`, one float32 ulp off at y[0] for encoded series of 5 points or more."""
    out = encode_padded(xy, lengths, version)
    values = out.values.copy()
    hit = (out.codes == "") & (lengths >= 5)
    values[hit, 1, 0] = np.nextafter(values[hit, 1, 0], np.float32(np.inf))
    return BatchEncoding(values, out.codes)


@pytest.mark.swift
def test_a_disagreement_shrinks_to_one_minimal_series_with_its_reproduction(swift_encoder, version=2):
    @settings(max_examples=100, database=None)
    @given(frame=frames())
    def fuzz(frame):
        differential.check_frame(swift_encoder, frame, version, python=perturbed_python)

    with pytest.raises(differential.SwiftDisagrees) as info:
        fuzz()
    err = info.value
    assert err.series == 1  # the final falsifying frame holds one series...
    assert len(err.mismatch.points) == 5  # ...the smallest the perturbation touches
    assert err.mismatch.detail == "first differing value at channel 1 index 0"
    assert err.mismatch.reproduction() in str(err) and f"version={version}" in str(err)
    # The reproduction runs as printed, and the real Swift encoder agrees with the real Python
    # encoder on it: the disagreement was the perturbation, found and shrunk through the frame.
    namespace: dict = {}
    exec(err.mismatch.reproduction().replace("\nencode(", "\nencoded = encode("), namespace)
    points = [[float.fromhex(x), float.fromhex(y)] for x, y in err.mismatch.points]
    assert np.array_equal(namespace["encoded"].view(np.uint32), swift_encoder.encode(points, version).bits)
    assert np.array_equal(namespace["encoded"], encode(points, version))


@pytest.mark.swift
def test_the_runner_reports_the_shrunk_series(swift_encoder):
    result = differential.hypothesis_frames(swift_encoder, 1, examples=100, python=perturbed_python)
    assert not result and result.mismatch_count == 1
    assert len(result.mismatches[0].points) == 5 and "encode([[float.fromhex(" in result.render()


@pytest.mark.swift
@pytest.mark.parametrize("version", VERSIONS)
def test_a_clean_run_counts_every_series(swift_encoder, version):
    examples = 5 if version in POSTERIOR_VERSIONS else 30
    result = differential.hypothesis_frames(swift_encoder, version, examples=examples, max_series=8)
    assert result and result.version == version
    assert examples <= result.cases <= examples * 8 and sum(result.codes.values()) == result.cases


@pytest.mark.slow
@pytest.mark.swift
@pytest.mark.parametrize("version", VERSIONS)
def test_many_hypothesis_frames_agree(swift_encoder, version):
    result = differential.hypothesis_frames(swift_encoder, version, examples=cases(version, 5_000),
                                            hypothesis_seed=version)
    assert result, result.render()
    assert result.cases > cases(version, 50_000)


@pytest.mark.swift
def test_the_cli_runs_hypothesis_frames(capsys):
    from trendsplit.cli import main

    assert main(["swift-fuzz", "--hypothesis", "--examples", "20", "--max-series", "4", "--version", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Hypothesis frames of 1..4 series (binary), encoding v2: ") and "0 mismatches" in out


@pytest.mark.parametrize("argv", [["--hypothesis", "--cases", "5"], ["--seconds", "5"], ["--examples", "9"]])
def test_the_cli_refuses_options_of_the_other_mode(capsys, argv):
    from trendsplit.cli import main

    assert main(["swift-fuzz", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--hypothesis" in err
