"""Differential fuzzing: the Python encoder against the app's Swift encoder, bit for bit.

Hypothesis mode sends one example at a time through the JSON protocol and prints a
copy-pasteable reproduction on failure; volume mode sends seeded numpy batches through
the binary protocol. Both run for every encoding version. The batched Hypothesis mode
(many series per example, one binary frame) is in `test_differential_frames.py`.
"""

from __future__ import annotations

import pytest
from hypothesis import given, note, settings

from tests.trendsplit.strategies import differential_cases
from trendsplit import differential
from trendsplit.encoding import CHANNELS
from trendsplit.errors import EncodingError

pytestmark = pytest.mark.swift
VERSIONS = sorted(CHANNELS)
#: Encoding v4's posterior costs about 0.03 s a series in Python (its Swift, in a release build, about 9 ms):
#: its runs are a hundredth the size of the others'; `thorough` and the slow run go further.
POSTERIOR_VERSIONS = tuple(sorted(differential.POSTERIOR_VERSIONS))
CHEAP_VERSIONS = [v for v in VERSIONS if v not in POSTERIOR_VERSIONS]


def cases(version: int, volume: int) -> int:
    return volume // 100 if version in POSTERIOR_VERSIONS else volume


@pytest.mark.parametrize("version", CHEAP_VERSIONS)
@given(points=differential_cases())
def test_swift_encoder_agrees_with_python_bit_for_bit(swift_encoder, version, points):
    note(f"{len(points)} points, encoding v{version}")
    differential.check_series(swift_encoder, points, version)  # SwiftDisagrees carries the reproduction


@pytest.mark.parametrize("version", POSTERIOR_VERSIONS)
@settings(max_examples=max(10, settings.default.max_examples // 10))
@given(points=differential_cases())
def test_swift_encoder_agrees_with_python_bit_for_bit_with_the_posterior(swift_encoder, version, points):
    note(f"{len(points)} points, encoding v{version}")
    differential.check_series(swift_encoder, points, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_seeded_batches_agree_through_the_binary_protocol(swift_encoder, version):
    result = differential.run(swift_encoder, cases=cases(version, 30_000), seed=1, version=version)
    assert result, result.render()
    assert result.cases == cases(version, 30_000) and result.version == version
    assert set(result.codes) >= {"", "non_finite", "unsorted_x", "zero_x_range", "too_many_points",
                                 "too_few_points", "encoding_overflow"}


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_a_million_seeded_cases_agree(swift_encoder, version):
    result = differential.run(swift_encoder, cases=cases(version, 1_000_000), seed=0, version=version)
    assert result, result.render()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_mismatch_reproduction_is_runnable(version):
    m = differential.Mismatch(0, "", "unsorted_x", "codes differ",
                              [[1.5.hex(), (-0.0).hex()], ["0x1.0p+1", "nan"]], version)
    assert f"version={version}" in m.reproduction()
    namespace: dict = {}
    with pytest.raises(EncodingError, match="non_finite"):
        exec(m.reproduction(), namespace)


def test_the_cli_fuzzes_every_encoding_version_in_frames_the_encoder_answers_in_time(capsys):
    """`swift-fuzz --version 4` is offered, and its seeded runs are cut into frames of `POSTERIOR_BATCH` series
    (10,000 v4 series in one frame took the Swift encoder past its 30 s timeout)."""
    from trendsplit.cli import main

    assert differential.batch_size(4) == differential.POSTERIOR_BATCH <= 500 < differential.batch_size(1)
    assert main(["swift-fuzz", "-q", "--cases", "30", "--version", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seeded batches (binary), encoding v4: 30 cases in ") and ": 0 mismatches" in out
