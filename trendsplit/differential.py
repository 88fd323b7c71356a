"""Python encoder vs the app's Swift encoder on seeded numpy batches, for volume.

Each batch mixes realistic logs (days, epoch days, epoch seconds), wild magnitudes and
deliberately broken series (NaN, infinities, unsorted or equal x, 0-150 points), runs
through `encode_padded` and through `trendsplit-encode`'s binary protocol, and compares
error codes and float32 bit patterns.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from trendsplit.encoding import ENCODING_VERSION, L, encode_padded
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


@dataclass
class DifferentialResult:
    version: int = ENCODING_VERSION
    cases: int = 0
    seconds: float = 0.0
    codes: Counter = field(default_factory=Counter)
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0

    def __bool__(self) -> bool:
        return self.mismatch_count == 0

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0

    def render(self) -> str:
        codes = ", ".join(f"{k or 'encoded'} {v}" for k, v in sorted(self.codes.items()))
        lines = [f"encoding v{self.version}: {self.cases} cases in {self.seconds:.1f} s ({self.rate:,.0f} cases/s): "
                 f"{self.mismatch_count} mismatches", f"outcomes: {codes}"]
        for m in self.mismatches:
            lines += [f"case {m.case}: python {m.python or 'encoded'!r}, swift {m.swift or 'encoded'!r}: "
                      f"{m.detail}", m.reproduction()]
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
    return xy, lengths


def run(encoder: SwiftEncoder, cases: int, seed: int, batch: int = 20_000,
        progress: Callable[[str], None] | None = None, keep: int = 5,
        version: int = ENCODING_VERSION) -> DifferentialResult:
    """Compare `cases` seeded cases encoded with `version`; keep the first `keep` mismatches with reproductions."""
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
            diff = np.argwhere(bits[k] != py.values[k].view(np.uint32))
            detail = (f"first differing value at channel {diff[0][0]} index {diff[0][1]}"
                      if len(diff) else "codes differ")
            result.mismatches.append(Mismatch(done + int(k), py.codes[k], codes[k], detail,
                                              [[float(a).hex(), float(b).hex()] for a, b in xy[k, :n]],
                                              version))
        done += count
        if progress:
            progress(f"{done}/{cases} cases, {result.mismatch_count} mismatches")
    result.cases = done
    result.seconds = time.perf_counter() - start
    return result
