"""Seeded synthetic watch-measurement logs: the inputs an app really sends the model.

A log is a series of (x = time in days, y = the watch's offset from true time in seconds).
Where the numbers come from:
- Readings are taken irregularly: a mixture of same-day checks (exponential gaps, mean
  6 h) and gaps of days (mean 1.5 d), never closer than one minute.
- A mechanical watch gains or loses at a roughly steady rate: a watch's base rate is
  drawn from N(0, 6) s/day (COSC chronometers: -4/+6 s/day; ordinary movements +-10
  to +-30), and each segment varies it by N(0, 1.5) s/day (position, temperature, wind).
- Reading the offset off a dial against a reference clock has about 1 s of noise.
- Breaks, mean one per 15 readings, are of the two kinds the seed post describes: a
  reset (the owner sets the watch right; the offset restarts near 0) and a stop (the
  watch ran down, sat unworn for 1-3 days, and was set again).
The label of a break is the index of the last reading before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trendsplit.encoding import L

MINUTE = 1.0 / 1440.0
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class WatchLog:
    points: np.ndarray  # float64 [n, 2]: days, seconds
    breaks: tuple[int, ...]  # index of the last reading before each break
    kind: str = "realistic"


def watch_log(rng: np.random.Generator, n: int | None = None) -> WatchLog:
    """One realistic log of `n` readings (2..100, drawn when not given)."""
    if n is None:
        n = int(rng.integers(10, L + 1) if rng.random() < 0.7 else rng.integers(2, 31))
    same_day = rng.random(n) < 0.6
    gaps = np.where(same_day, rng.exponential(0.25, n), rng.exponential(1.5, n))
    gaps = np.maximum(gaps, MINUTE)
    gaps[0] = 0.0
    broken = rng.random(n) < 1.0 / 15.0
    broken[0] = False
    stopped = broken & (rng.random(n) < 0.5)
    gaps[stopped] += rng.uniform(1.0, 3.0, int(stopped.sum()))
    t = rng.uniform(19000.0, 21000.0) + np.cumsum(gaps)
    segment = np.cumsum(broken)
    segments = int(segment[-1]) + 1
    first = np.flatnonzero(np.r_[True, broken[1:]])
    offset0 = rng.normal(0.0, 2.0, segments)
    offset0[0] = rng.normal(0.0, 5.0)
    drift = rng.normal(0.0, 6.0) + rng.normal(0.0, 1.5, segments)
    y = offset0[segment] + drift[segment] * (t - t[first][segment]) + rng.normal(0.0, 1.0, n)
    breaks = tuple(int(i) - 1 for i in np.flatnonzero(broken))
    return WatchLog(points=np.column_stack([t, y]), breaks=breaks)


@dataclass(frozen=True)
class Dataset:
    """Encoded logs with per-position labels, for training and evaluation."""

    inputs: np.ndarray  # float32 [N, C, L]
    labels: np.ndarray  # float32 [N, L]: 1 at the last reading before a break
    lengths: np.ndarray  # int [N]
    logs: tuple[WatchLog, ...]

    def __len__(self) -> int:
        return len(self.logs)


def dataset(count: int, seed: int, version: int = 1) -> Dataset:
    """`count` realistic logs from `seed`, encoded with encoding `version`, with their break labels."""
    from trendsplit.encoding import encode_batch

    rng = np.random.default_rng(seed)
    logs = tuple(watch_log(rng) for _ in range(count))
    labels = np.zeros((count, L), dtype=np.float32)
    for k, log in enumerate(logs):
        labels[k, list(log.breaks)] = 1.0
    return Dataset(inputs=encode_batch([log.points for log in logs], version), labels=labels,
                   lengths=np.array([len(log.points) for log in logs]), logs=logs)


def _epoch_seconds(rng):
    log = watch_log(rng)
    return log.points * np.array([DAY_SECONDS, 1.0])  # x as Unix seconds (~1.7e9)


def _two_points(rng):
    return watch_log(rng, 2).points


def _full_length(rng):
    return watch_log(rng, L).points


def _near_duplicate_x(rng):
    p = watch_log(rng, int(rng.integers(5, L + 1))).points
    p[1::2, 0] = p[0::2, 0][: len(p[1::2])]  # pairs of readings at the same instant
    p[-1, 0] += 1e-3
    return p


def _tiny_x_range(rng):
    """A burst of readings over 30 s to 10 min (x still in days): y / x-range gets large."""
    p = watch_log(rng, int(rng.integers(3, 40))).points
    span = rng.uniform(30.0, 600.0) / DAY_SECONDS
    p[:, 0] = p[0, 0] + (p[:, 0] - p[0, 0]) / (p[-1, 0] - p[0, 0]) * span
    return p


def _huge_offsets(rng):
    p = watch_log(rng).points
    p[:, 1] += rng.choice([-1.0, 1.0]) * 1e6  # a watch never set: offset of ~11 days
    return p


def _flat_y(rng):
    p = watch_log(rng).points
    p[:, 1] = 0.0
    return p


def _single_outlier(rng):
    p = watch_log(rng, int(rng.integers(5, L + 1))).points
    p[int(rng.integers(len(p))), 1] += rng.choice([-1.0, 1.0]) * 3600.0  # misread by an hour
    return p


#: Valid but awkward inputs, each a named generator; parity runs cycle through them.
ADVERSARIAL: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "epoch_seconds": _epoch_seconds,
    "two_points": _two_points,
    "full_length": _full_length,
    "near_duplicate_x": _near_duplicate_x,
    "tiny_x_range": _tiny_x_range,
    "huge_offsets": _huge_offsets,
    "flat_y": _flat_y,
    "single_outlier": _single_outlier,
}


def parity_logs(count: int, seed: int, adversarial_share: float = 0.2) -> list[WatchLog]:
    """`count` logs from one seed: realistic ones, and every `1/adversarial_share`-th adversarial."""
    rng = np.random.default_rng(seed)
    kinds = list(ADVERSARIAL)
    every = max(1, round(1 / adversarial_share)) if adversarial_share > 0 else 0
    logs = []
    for k in range(count):
        if every and k % every == every - 1:
            kind = kinds[(k // every) % len(kinds)]
            logs.append(WatchLog(points=ADVERSARIAL[kind](rng), breaks=(), kind=kind))
        else:
            logs.append(watch_log(rng))
    return logs
