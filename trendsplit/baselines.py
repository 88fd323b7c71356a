"""Non-neural split detectors to judge the trained nets against.

- `brute_force`: the seed post's first approach: try every split, keep the one that most
  reduces the squared error of per-segment linear fits, repeat while the reduction beats
  a penalty (greedy binary segmentation).
- `pelt`: the `ruptures` library's PELT with a piecewise-linear cost (exact penalised
  segmentation).
- `binseg`: ruptures' binary segmentation with the same cost (what a practitioner tries
  next: greedy, cheaper, and without the brute force's two-readings-a-side rule).
- `pelt_log_n`: PELT whose penalty grows with the log's length, c * ln(n) (the BIC's
  form): one fixed penalty over-splits long logs or under-splits short ones.
All return the index of the last reading before each break, like the nets' decoder, and
all have one parameter, tuned on the same training logs over 13 values by `tune` (the
same budget). `on_encoded` runs a detector on what the nets see (encoding v1: y divided
by the x-range, so the absolute noise scale is gone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from trendsplit import data
from trendsplit.data import WatchLog
from trendsplit.metrics import score

Detector = Callable[[np.ndarray, float], list[int]]
PENALTIES = tuple(float(p) for p in np.geomspace(2.0, 2000.0, 13))  # s^2: reading noise is ~1 s
ENCODED_PENALTIES = tuple(float(p) for p in np.geomspace(1e-6, 10.0, 29))  # encoded units
#: c for `pelt_log_n`: the same 13-value grid, scaled so c * ln(50) (a typical log) spans PENALTIES.
LOG_N_PENALTIES = tuple(p / float(np.log(50.0)) for p in PENALTIES)


def _sse_table(x: np.ndarray, y: np.ndarray):
    """Prefix sums so that any segment's least-squares line error costs O(1)."""
    x = x - x[0]
    zero = np.zeros(1)
    cs = {k: np.concatenate([zero, np.cumsum(v)]) for k, v in
          {"n": np.ones_like(x), "x": x, "y": y, "xx": x * x, "xy": x * y, "yy": y * y}.items()}

    def sse(a: int, b: int) -> float:
        n, sx, sy = (cs[k][b] - cs[k][a] for k in ("n", "x", "y"))
        sxx, sxy, syy = (cs[k][b] - cs[k][a] for k in ("xx", "xy", "yy"))
        vy = syy - sy * sy / n
        vx = sxx - sx * sx / n
        cov = sxy - sx * sy / n
        return max(vy - (cov * cov / vx if vx > 1e-12 else 0.0), 0.0)

    return sse


def brute_force(points: np.ndarray, penalty: float) -> list[int]:
    x, y = points[:, 0], points[:, 1]
    sse = _sse_table(x, y)
    segments = [(0, len(x))]
    breaks: list[int] = []
    while True:
        best = (0.0, None, None)
        for k, (a, b) in enumerate(segments):
            whole = sse(a, b)
            for s in range(a + 2, b - 1):  # at least two readings on each side
                gain = whole - sse(a, s) - sse(s, b)
                if gain > best[0]:
                    best = (gain, k, s)
        gain, k, s = best
        if k is None or gain <= penalty:
            return sorted(breaks)
        a, b = segments.pop(k)
        segments += [(a, s), (s, b)]
        breaks.append(s - 1)


def pelt(points: np.ndarray, penalty: float) -> list[int]:
    import ruptures as rpt

    x, y = points[:, 0] - points[0, 0], points[:, 1]
    if len(x) < 4:
        return []
    signal = np.column_stack([y, x, np.ones_like(x)])
    ends = rpt.Pelt(custom_cost=rpt.costs.CostLinear(), min_size=2, jump=1).fit(signal).predict(pen=penalty)
    return [int(e) - 1 for e in ends[:-1]]


def _linear_signal(points: np.ndarray) -> np.ndarray:
    x, y = points[:, 0] - points[0, 0], points[:, 1]
    return np.column_stack([y, x, np.ones_like(x)])


def binseg(points: np.ndarray, penalty: float) -> list[int]:
    import ruptures as rpt

    if len(points) < 4:
        return []
    algo = rpt.Binseg(custom_cost=rpt.costs.CostLinear(), min_size=2, jump=1).fit(_linear_signal(points))
    return [int(e) - 1 for e in algo.predict(pen=penalty)[:-1]]


def pelt_log_n(points: np.ndarray, penalty: float) -> list[int]:
    """PELT with penalty * ln(n): `penalty` is the BIC-style c."""
    return pelt(points, penalty * float(np.log(max(len(points), 2))))


def tune(detector: Detector, logs: Sequence[WatchLog], penalties: Sequence[float] = PENALTIES,
         progress: Callable[[str], None] = lambda _m: None) -> float:
    """The penalty with the best F1 (within one index) on `logs`."""
    truths = [log.breaks for log in logs]
    scores = []
    for k, p in enumerate(penalties):
        progress(f"penalty {k + 1}/{len(penalties)} ({p:.3g})")
        scores.append(score([detector(log.points, p) for log in logs], truths, tolerance=1).f1)
    return penalties[int(np.argmax(scores))]


def code_version() -> str:
    """Hash of the code a tuned penalty depends on: the detectors, the data generator, the metric."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / f).read_bytes() for f in
                                   ("baselines.py", "data.py", "metrics.py", "encoding.py"))).hexdigest()[:16]


def tuned(name: str, detector: Detector, logs_seed: int, count: int, penalties: Sequence[float], cache,
          progress: Callable[[str], None] = lambda _m: None, habits: data.Habits = data.DEFAULT_HABITS) -> float:
    """`tune` on `count` logs of seed `logs_seed` drawn with `habits`, remembered in the JSON file `cache`
    (or not, when None).

    Keyed by the detector, the data (seed, count, habits) and the code version: a change to any of
    them tunes again.
    """
    import json
    from pathlib import Path

    from harness.toolkit import atomic

    drawn = "" if habits == data.DEFAULT_HABITS else f"|{habits}"
    key = (f"{name}|seed {logs_seed}|n {count}{drawn}|{','.join(f'{p:.6g}' for p in penalties)}"
           f"|code {code_version()}")
    known: dict = {}
    if cache is not None and Path(cache).is_file():
        try:
            known = json.loads(Path(cache).read_text())
        except (ValueError, OSError):
            known = {}
        if not isinstance(known, dict):
            known = {}
    if isinstance(known.get(key), int | float):
        progress(f"{name}: tuned penalty from {cache}")
        return float(known[key])
    logs = data.dataset(count, logs_seed, habits=habits).logs
    penalty = tune(detector, logs, penalties, progress=lambda m: progress(f"{name}: {m}"))
    if cache is not None:
        atomic.write_text(cache, json.dumps({**known, key: penalty}, indent=2, sort_keys=True) + "\n")
    return penalty


def on_encoded(detector: Detector) -> Detector:
    """The same detector on the encoding v1 values of the points instead of days and seconds."""
    from trendsplit.encoding import encode

    def run(points: np.ndarray, penalty: float) -> list[int]:
        n = len(points)
        e = encode(points)
        return detector(np.column_stack([e[0, :n], e[1, :n]]).astype(np.float64), penalty)

    return run
