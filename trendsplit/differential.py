"""Python encoder vs the app's Swift encoder, bit for bit: error codes and float32 bit patterns.

Three modes share one mismatch record and one reproduction format:

- volume (`run`): seeded numpy batches of realistic logs (days, epoch days, epoch seconds),
  wild magnitudes and deliberately broken series (NaN, infinities, unsorted or equal x,
  0-150 points) through `encode_padded` and `trendsplit-encode`'s binary protocol;
- Hypothesis frames (`hypothesis_frames`): each example draws up to `max_series` series
  (`trendsplit.strategies.frames`) and sends them in one binary frame; a failing frame shrinks
  to one minimal series, reported as a copy-pasteable reproduction;
- Hypothesis series (`hypothesis_series`): one example, one series, one JSON line (the
  per-example mode, kept as the baseline the frames are measured against).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from trendsplit.encoding import ENCODING_VERSION, L, encode, encode_padded
from trendsplit.errors import EncodingError
from trendsplit.strategies import build_frame, differential_cases, frames
from trendsplit.swift_encoder import SwiftEncoder

WIDTH = 150


@dataclass(frozen=True)
class Mismatch:
    case: int
    python: str  # code, "" when encoded
    swift: str
    detail: str
    points: list  # [[x, y], ...] as float.hex strings: paste into float.fromhex
    version: int = ENCODING_VERSION

    def reproduction(self) -> str:
        pts = ", ".join(f"[float.fromhex({x!r}), float.fromhex({y!r})]" for x, y in self.points)
        return f"from trendsplit.encoding import encode\nencode([{pts}], version={self.version})"

    def render(self) -> str:
        return (f"case {self.case}: python {self.python or 'encoded'!r}, swift {self.swift or 'encoded'!r}: "
                f"{self.detail}\n{self.reproduction()}")


class SwiftDisagrees(AssertionError):
    """Python and Swift encoded one series differently; the message is the series' reproduction.

    An AssertionError so that Hypothesis treats it as a failing example and shrinks it.
    """

    def __init__(self, mismatch: Mismatch, series: int):
        self.mismatch, self.series = mismatch, series
        super().__init__(f"Swift and Python disagree on 1 series of the {series} sent (encoding v{mismatch.version})"
                         f"\n{mismatch.render()}")


def _points_hex(points: np.ndarray) -> list:
    return [[float(a).hex(), float(b).hex()] for a, b in points]


def _first_difference(swift: np.ndarray, python: np.ndarray) -> str:
    diff = np.argwhere(swift != python)
    return f"first differing value at channel {diff[0][0]} index {diff[0][1]}" if len(diff) else "codes differ"


@dataclass
class DifferentialResult:
    version: int = ENCODING_VERSION
    cases: int = 0
    seconds: float = 0.0
    codes: Counter = field(default_factory=Counter)
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    mode: str = "seeded batches (binary)"
    note: str = ""  # e.g. that the time ran out while a failure was being shrunk

    def __bool__(self) -> bool:
        return self.mismatch_count == 0

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0

    def render(self) -> str:
        codes = ", ".join(f"{k or 'encoded'} {v}" for k, v in sorted(self.codes.items()))
        lines = [f"{self.mode}, encoding v{self.version}: {self.cases} cases in {self.seconds:.1f} s "
                 f"({self.rate:,.0f} cases/s): {self.mismatch_count} mismatches", f"outcomes: {codes}"]
        lines += [m.render() for m in self.mismatches]
        lines += [self.note] if self.note else []
        return "\n".join(lines)


def seeded_batch(rng: np.random.Generator, count: int, width: int = WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """float64 [count, width, 2] and lengths: a seeded mix of valid, awkward and broken series."""
    kind = rng.integers(0, 6, count)
    lengths = np.where(rng.random(count) < 0.85, rng.integers(2, L + 1, count),
                       rng.integers(0, width + 1, count))
    gaps = np.where(rng.random((count, width)) < 0.6, rng.exponential(0.25, (count, width)),
                    rng.exponential(1.5, (count, width)))
    x = np.cumsum(gaps, axis=1)
    origin = np.choose(kind % 3, [np.zeros(count), rng.uniform(19_000, 21_000, count),
                                  rng.uniform(1.6e9, 1.9e9, count)])
    unit = np.where(kind % 3 == 2, 86_400.0, 1.0)  # epoch seconds for a third
    x = origin[:, None] + x * unit[:, None]
    drift = rng.normal(0, 8, (count, 1))
    resets = np.cumsum(rng.random((count, width)) < 1 / 15, axis=1)
    y = drift * (x - x[:, :1]) / unit[:, None] + rng.normal(0, 1, (count, width)) - resets * rng.normal(
        0, 20, (count, 1))
    wild = kind == 5
    mags = 10.0 ** rng.integers(-300, 300, (count, 2))
    x[wild] = np.sort(rng.normal(0, 1, (int(wild.sum()), width)), axis=1) * mags[wild, :1]
    y[wild] = rng.normal(0, 1, (int(wild.sum()), width)) * mags[wild, 1:]
    xy = np.stack([x, y], axis=2)
    # break a share of them on purpose
    broken = rng.random(count)
    rows = np.arange(count)
    at = rng.integers(0, np.maximum(lengths, 1))
    nan = broken < 0.03
    xy[rows[nan], at[nan], rng.integers(0, 2, int(nan.sum()))] = rng.choice([np.nan, np.inf, -np.inf],
                                                                           int(nan.sum()))
    swap = (broken >= 0.03) & (broken < 0.06)
    xy[rows[swap], 0, 0] = xy[rows[swap], np.maximum(lengths[swap] - 1, 0), 0] + 1.0
    flat = (broken >= 0.06) & (broken < 0.08)
    xy[flat, :, 0] = xy[flat, :1, 0]
    tiny = (broken >= 0.08) & (broken < 0.10)
    xy[tiny, :, 0] = xy[tiny, :1, 0] + (xy[tiny, :, 0] - xy[tiny, :1, 0]) * 1e-12
    # the lengths' edges (no point, one, L, L + 1), 3 in 100: a few in a small frame (encoding v4's) as well
    edge = rng.random(count) < 0.03
    lengths = np.where(edge, rng.choice([0, 1, L, L + 1], count), lengths)
    return xy, lengths


#: Series per binary frame of a seeded run. A frame is one reply the encoder must give within its timeout
#: (`SwiftEncoder.timeout`, 30 s by default). Encoding v4's posterior costs the Swift encoder about 9 ms a series
#: (release build: 500 seeded series in 4.3 s; 10,000 did not answer within 30 s), the others' a few us.
BATCH = 20_000
POSTERIOR_BATCH = 250
#: Encoding versions with the posterior channel (POST), whose series cost milliseconds on both sides.
POSTERIOR_VERSIONS = frozenset({4})


def batch_size(version: int) -> int:
    """Series per frame of a seeded run of `version`: fixed per version, never timed, since the seeded cases are
    drawn a frame at a time (the frame size is part of what a seed means)."""
    return POSTERIOR_BATCH if version in POSTERIOR_VERSIONS else BATCH


def run(encoder: SwiftEncoder, cases: int, seed: int, batch: int | None = None,
        progress: Callable[[str], None] | None = None, keep: int = 5,
        version: int = ENCODING_VERSION) -> DifferentialResult:
    """Compare `cases` seeded cases encoded with `version`; keep the first `keep` mismatches with reproductions.
    `batch`: series per frame (default `batch_size(version)`); the seeded cases are drawn a frame at a time."""
    batch = batch or batch_size(version)
    rng = np.random.default_rng(seed)
    result = DifferentialResult(version=version)
    start = time.perf_counter()
    done = 0
    while done < cases:
        count = min(batch, cases - done)
        xy, lengths = seeded_batch(rng, count)
        py = encode_padded(xy, lengths, version)
        codes, bits = encoder.encode_padded(xy, lengths, version)
        result.codes.update(py.codes.tolist())
        same = (codes == py.codes) & (bits == py.values.view(np.uint32)).all(axis=(1, 2))
        bad = np.flatnonzero(~same)
        result.mismatch_count += len(bad)
        for k in bad[: max(0, keep - len(result.mismatches))]:
            n = int(min(lengths[k], xy.shape[1]))
            detail = _first_difference(bits[k], py.values[k].view(np.uint32))
            result.mismatches.append(Mismatch(done + int(k), py.codes[k], codes[k], detail,
                                              _points_hex(xy[k, :n]), version))
        done += count
        if progress:
            progress(f"{done}/{cases} cases, {result.mismatch_count} mismatches")
    result.cases = done
    result.seconds = time.perf_counter() - start
    return result


# -- Hypothesis modes ------------------------------------------------------------------------------

#: Series per Hypothesis frame, at most: 1..128 (64 on average) amortise Hypothesis's cost per example.
MAX_SERIES = 128
Padded = Callable[[np.ndarray, np.ndarray, int], object]  # encode_padded's signature: -> BatchEncoding


def check_frame(encoder: SwiftEncoder, records: list[bytes], version: int = ENCODING_VERSION,
                python: Padded = encode_padded) -> list[str]:
    """Send the records' series in one binary frame; their codes, or `SwiftDisagrees` on the first mismatch.

    `python` stands in for `encode_padded` (the shrinking test perturbs it; Swift is always real).
    """
    xy, lengths = build_frame(records)
    with np.errstate(all="ignore"):
        py = python(xy, lengths, version)
    codes, bits = encoder.encode_padded(xy, lengths, version)
    same = (codes == py.codes) & (bits == py.values.view(np.uint32)).all(axis=(1, 2))
    bad = np.flatnonzero(~same)
    if len(bad):
        k = int(bad[0])
        raise SwiftDisagrees(Mismatch(k, py.codes[k], codes[k], _first_difference(bits[k], py.values[k].view(
            np.uint32)), _points_hex(xy[k, : lengths[k]]), version), len(records))
    return codes.tolist()


def check_series(encoder: SwiftEncoder, points: np.ndarray, version: int = ENCODING_VERSION) -> list[str]:
    """One series through Python's `encode` and one JSON line; its code, or `SwiftDisagrees`."""
    try:
        code, bits = "", encode(points, version).view(np.uint32)
    except EncodingError as err:
        code, bits = err.code, None
    swift = encoder.encode(points, version)
    if swift.code != code or (bits is not None and not np.array_equal(swift.bits, bits)):
        detail = "codes differ" if swift.code != code else _first_difference(swift.bits, bits)
        raise SwiftDisagrees(Mismatch(0, code, swift.code, detail, _points_hex(np.reshape(points, (-1, 2))),
                                      version), 1)
    return [code]


class _TimeUp(BaseException):
    """Ends a timed run. Not an Exception, so Hypothesis passes it through instead of shrinking it."""


def _run_hypothesis(check: Callable[[object], list[str]], strategy: st.SearchStrategy, version: int,
                    examples: int, seconds: float | None, hypothesis_seed: int, mode: str) -> DifferentialResult:
    """Run `check` under Hypothesis (generate, then shrink on failure) and tally what it saw.

    A failure found before the deadline is reported whatever happens after: if the time runs
    out while Hypothesis shrinks it, the smallest failing example reached so far is reported,
    with a note that it may not be minimal; if Swift agrees when the example is run again
    (Hypothesis calls that flaky), the first failing example is reported, with a note.
    """
    result = DifferentialResult(version=version, mode=mode)
    deadline = time.perf_counter() + seconds if seconds else float("inf")
    failures: list[SwiftDisagrees] = []  # every failing example run, in order: shrinking only accepts smaller ones

    @seed(hypothesis_seed)
    @settings(max_examples=examples, deadline=None, database=None, report_multiple_bugs=False,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def fuzz(example):
        if time.perf_counter() > deadline:
            raise _TimeUp
        try:
            codes = check(example)
        except SwiftDisagrees as err:
            failures.append(err)
            raise
        result.codes.update(codes)
        result.cases += len(codes)

    start = time.perf_counter()
    try:
        fuzz()
    except _TimeUp:
        if failures:
            result.note = (f"the time ran out while Hypothesis shrank the failure: the reproduction above is the "
                           f"smallest of the {len(failures)} failing examples it ran, and may not be minimal")
            failures[:] = [min(failures, key=lambda f: (f.series, len(f.mismatch.points)))]
    except SwiftDisagrees as err:  # Hypothesis re-raises the shrunk example's error
        failures[:] = [err]
    except Flaky:  # Swift disagreed, then agreed when Hypothesis ran the same example again
        result.note = (f"Swift disagreed on the example above, then agreed on it when it was run again "
                       f"({len(failures)} failing runs): the difference is intermittent, and was not shrunk")
        failures[:] = failures[:1]
    if failures:
        result.mismatches.append(failures[-1].mismatch)
        result.mismatch_count = 1
    result.seconds = time.perf_counter() - start
    return result


def hypothesis_frames(encoder: SwiftEncoder, version: int = ENCODING_VERSION, examples: int = 1_000,
                      max_series: int = MAX_SERIES, seconds: float | None = None, hypothesis_seed: int = 0,
                      python: Padded = encode_padded) -> DifferentialResult:
    """Up to `examples` Hypothesis frames of 1..`max_series` series each (or until `seconds` pass)."""
    return _run_hypothesis(lambda records: check_frame(encoder, records, version, python),
                           frames(max_series), version, examples, seconds, hypothesis_seed,
                           f"Hypothesis frames of 1..{max_series} series (binary)")


def hypothesis_series(encoder: SwiftEncoder, version: int = ENCODING_VERSION, examples: int = 1_000,
                      seconds: float | None = None, hypothesis_seed: int = 0) -> DifferentialResult:
    """Up to `examples` Hypothesis examples of one series each through JSON lines (or until `seconds` pass)."""
    return _run_hypothesis(lambda points: check_series(encoder, points, version), differential_cases(),
                           version, examples, seconds, hypothesis_seed,
                           "Hypothesis, one series per example (JSON lines)")
