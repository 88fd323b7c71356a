"""A time-boxed Hypothesis fuzz never drops a failure it found.

`swift-fuzz --hypothesis --seconds N` ended its run by raising past Hypothesis when the time was
up, also while Hypothesis was shrinking a failure: the failure was lost and the run said "0
mismatches". Here the real Swift encoder answers through a proxy that flips one bit of its
answers and sleeps past the deadline at a chosen failing call, so the deadline falls before any
shrinking, or part way through it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from trendsplit import differential
from trendsplit.swift_encoder import SwiftResult

pytestmark = pytest.mark.swift

SECONDS = 1.0


class BitFlipping:
    """The real encoder, with bit 0 of x[0] flipped in its answer for every encoded series of 3 points
    or more; the `stall_at`-th flipped answer takes longer than the whole run may."""

    def __init__(self, encoder, stall_at: int):
        self.encoder, self.stall_at, self.flipped = encoder, stall_at, 0
        self.codes, self.limits, self.versions = encoder.codes, encoder.limits, encoder.versions

    def _stall(self) -> None:
        self.flipped += 1
        if self.flipped == self.stall_at:
            time.sleep(SECONDS * 1.5)

    def encode_padded(self, xy, lengths, version=1):
        codes, bits = self.encoder.encode_padded(xy, lengths, version)
        hit = (codes == "") & (np.asarray(lengths) >= 3)
        if hit.any():
            bits = bits.copy()
            bits[hit, 0, 0] ^= 1
            self._stall()
        return codes, bits

    def encode(self, points, version=1):
        result = self.encoder.encode(points, version)
        if result.bits is None or len(points) < 3:
            return result
        bits = result.bits.copy()
        bits[0, 0] ^= 1
        self._stall()
        return SwiftResult("", bits)


@pytest.mark.parametrize("mode", ["frames", "series"])
@pytest.mark.parametrize("stall_at", [1, 2])
def test_a_failure_found_before_the_deadline_is_reported_shrunk_or_not(swift_encoder, mode, stall_at):
    flipping = BitFlipping(swift_encoder, stall_at)
    run = differential.hypothesis_frames if mode == "frames" else differential.hypothesis_series
    result = run(flipping, examples=10_000, seconds=SECONDS, hypothesis_seed=7)
    assert flipping.flipped >= stall_at  # the deadline passed at a failing call
    assert not result and result.mismatch_count == 1, result.render()
    (mismatch,) = result.mismatches
    assert "first differing value at channel 0 index 0" in mismatch.detail and len(mismatch.points) >= 3
    assert "the time ran out while Hypothesis shrank the failure" in result.render()
    assert mismatch.reproduction().startswith("from trendsplit.encoding import encode\nencode([")


def test_without_a_deadline_the_failure_is_shrunk_and_reported_without_a_note(swift_encoder):
    result = differential.hypothesis_frames(BitFlipping(swift_encoder, stall_at=0), examples=200, hypothesis_seed=7)
    assert result.mismatch_count == 1 and "time ran out" not in result.render()
    assert len(result.mismatches[0].points) == 3  # shrunk to the smallest series that is flipped


def test_a_run_that_finds_nothing_before_the_deadline_reports_nothing(swift_encoder):
    result = differential.hypothesis_frames(swift_encoder, examples=10**9, seconds=0.5, hypothesis_seed=7)
    assert result and result.mismatch_count == 0 and result.cases > 0


class Intermittent(BitFlipping):
    """The real encoder, flipping a bit only in its first `times` answers that it would flip: a Swift bug
    that shows once (a race, state left by an earlier series) and not when the example is run again."""

    def __init__(self, encoder, times: int):
        super().__init__(encoder, stall_at=0)
        self.left = times

    def encode_padded(self, xy, lengths, version=1):
        if not self.left:
            return self.encoder.encode_padded(xy, lengths, version)
        codes, bits = super().encode_padded(xy, lengths, version)
        self.left -= self.flipped > 0
        self.flipped = 0
        return codes, bits

    def encode(self, points, version=1):
        if not self.left:
            return self.encoder.encode(points, version)
        result = super().encode(points, version)
        self.left -= self.flipped > 0
        self.flipped = 0
        return result


@pytest.mark.parametrize("mode", ["frames", "series"])
def test_a_failure_that_does_not_happen_again_is_still_reported(swift_encoder, mode):
    """Hypothesis runs a failing example again; when Swift then agrees it raises FlakyFailure, which
    escaped as "internal error: FlakyFailure" and took the reproduction with it."""
    run = differential.hypothesis_frames if mode == "frames" else differential.hypothesis_series
    result = run(Intermittent(swift_encoder, times=1), examples=300, hypothesis_seed=7)
    assert not result and result.mismatch_count == 1, result.render()
    (mismatch,) = result.mismatches
    assert "first differing value at channel 0 index 0" in mismatch.detail
    assert "the difference is intermittent" in result.render()
