"""Benchmarks: every figure is measured in the same run as its baseline and shown as a ratio.

- encoder: the seed post's per-element torch loop vs the vectorised encoder
- backends: latency and throughput at batch 1 and 256, as ratios to onnxruntime (and the emulated
  profiles' to the `fp32` profile's), every backend timed in turns with the others in each of
  several rounds, ratios taken within a round and reported as their median and min-max over the
  rounds (ExecuTorch's programs included where its extra is)
- fuzz: Hypothesis examples per second through the three-backend parity check, and the
  Python-vs-Swift differential in Hypothesis (JSON lines), Hypothesis frames (binary) and
  seeded batch (binary) modes
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from harness.toolkit import atomic
from trendsplit.encoding import L, encode, encode_batch, encode_padded


def seed_encode(points, padded_length: int = L) -> torch.Tensor:
    """The seed post's encoder, as published: a Python loop writing one tensor element at a time."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
    y_shift = ((max_y - min_y) / (max_x - min_x)) / 2.0
    input_tensor = torch.zeros([2, padded_length])

    def normalize_x(x):
        return (x - min_x) / (max_x - min_x) - 0.5

    def normalize_y(y):
        return (y - min_y) / (max_x - min_x) - y_shift

    for i in range(min(padded_length, len(points))):
        input_tensor[0][i] = normalize_x(points[i][0] * 1.0)
        input_tensor[1][i] = normalize_y(points[i][1] * 1.0)
    return input_tensor


def timings(fn: Callable[[], object], repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


@dataclass
class Bench:
    sections: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, section: str, row: dict) -> None:
        self.sections.setdefault(section, []).append(row)

    def render(self) -> str:
        lines = []
        for name, rows in self.sections.items():
            lines += ["", f"== {name}"]
            keys = list(rows[0])
            widths = [max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys]
            lines.append("  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True)))
            for r in rows:
                lines.append("  ".join(_fmt(r.get(k)).ljust(w) for k, w in zip(keys, widths, strict=True)))
        return "\n".join(lines).lstrip()

    def write_json(self, path: str | Path) -> Path:
        return atomic.write_text(path, json.dumps(self.sections, indent=2) + "\n")


def _fmt(v) -> str:
    if isinstance(v, float):
        # Three significant digits below 1,000, whole numbers with separators above: never
        # scientific notation, so one column reads in one format.
        return f"{v:.3g}" if abs(v) < 1e3 else f"{v:,.0f}"
    return str(v)


def bench_encoder(bench: Bench, seed: int = 0, size: int = 1024, repeat: int = 5) -> None:
    """Per-example times at batch 1 and `size` (the tests shrink both; the figures use the defaults)."""
    from trendsplit import data

    rng = np.random.default_rng(seed)
    logs = [data.watch_log(rng, 60).points.tolist() for _ in range(size)]
    for batch in (1, size):
        chunk = logs[:batch]
        loop = statistics.median(timings(lambda c=chunk: [seed_encode(p) for p in c], repeat=repeat)) / batch
        vec = statistics.median(timings(lambda c=chunk: encode_batch(c), repeat=repeat)) / batch
        single = statistics.median(timings(lambda c=chunk: [encode(p) for p in c], repeat=repeat)) / batch
        padded = np.zeros((batch, L, 2))
        for k, p in enumerate(chunk):
            padded[k, : len(p)] = p
        lengths = np.full(batch, 60)
        arrays = statistics.median(timings(lambda a=padded, n=lengths: encode_padded(a, n), repeat=repeat)) / batch
        bench.add(
            "encoder (60-point logs), per example",
            {
                "batch": batch,
                "seed loop us": loop * 1e6,
                "encode us": single * 1e6,
                "encode_batch us": vec * 1e6,
                "encode_padded us (arrays)": arrays * 1e6,
                "speedup (seed / encode_batch)": loop / vec,
                "speedup (seed / encode_padded)": loop / arrays,
            },
        )


def interleaved_timings(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function, timed in turns (a, b, c, a, b, c, ...).

    Alternating the baseline and the candidates spreads a noisy machine's slow spells over all
    of them alike, so their ratios hold where their absolute timings do not.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - start)
    return out


#: Rounds of `bench_backends`: each times every backend in turns; the figures are medians over rounds.
ROUNDS = 7
#: The emulated profiles compared with the `fp32` profile of the same round (the goal: fp16 storage costs little).
PROFILE_BASE = "coreml-emulated@fp32[fp32]"


@dataclass
class Rounds:
    """One batch size's rounds: per round, each backend's median seconds per call (timed in turns).

    A ratio is taken within a round (both sides timed in the same turns, so under the same load)
    and then summarised over rounds: its median and its spread (min, max). The ratio of two
    medians over the whole run would mix the rounds' loads.
    """

    medians: list[dict[str, float]] = field(default_factory=list)

    def add(self, timed: dict[str, list[float]]) -> None:
        self.medians.append({label: statistics.median(t) for label, t in timed.items()})

    def ratios(self, label: str, base: str) -> list[float]:
        """`label`'s time over `base`'s, one per round that timed both."""
        return [r[label] / r[base] for r in self.medians if label in r and base in r]

    def summary(self, label: str, base: str) -> tuple[float, float, float]:
        """(median, min, max) of the per-round ratios; NaNs when no round timed both."""
        ratios = self.ratios(label, base)
        if not ratios:
            return float("nan"), float("nan"), float("nan")
        return statistics.median(ratios), min(ratios), max(ratios)

    def seconds(self, label: str) -> float:
        """The median over rounds of `label`'s per-round median."""
        return statistics.median(r[label] for r in self.medians)


def timed_rounds(fns: dict[str, Callable[[], object]], rounds: int, repeat: int,
                 warmup: int = 2) -> Rounds:
    """`rounds` runs of `interleaved_timings` (`warmup` turns before the first only)."""
    out = Rounds()
    for k in range(rounds):
        out.add(interleaved_timings(fns, repeat, warmup=warmup if k == 0 else 0))
    return out


def bench_backends(
    bench: Bench,
    model: str,
    backends: list[str],
    artifacts: Path,
    seed: int = 0,
    rounds: int = ROUNDS,
    progress: Callable[[str], None] = lambda _m: None,
) -> None:
    """Latency at batch 1 and 256 as multiples of onnxruntime's, and of the `fp32` profile's for the
    other emulated profiles: per-round ratios summarised as their median and min-max over `rounds`."""
    from harness import api

    spec = api.model(model)
    cases = spec.make_cases(256, seed).inputs
    loaded = api.backends(spec, backends, artifacts / spec.name, progress=progress, skip_unavailable=True)
    labels = [b.label for b in loaded]
    base = next((label for label in labels if label.startswith("onnxruntime")), None)
    rows, profiles = [], []
    for batch in (1, 256):
        progress(f"timing {', '.join(labels)} in turns at batch {batch}, {rounds} rounds")
        timed = timed_rounds({b.label: (lambda b=b, n=batch: b.predict(cases[:n])) for b in loaded},
                             rounds, repeat=20 if batch == 1 else 3)
        for label in labels:
            median, low, high = timed.summary(label, base) if base else (float("nan"),) * 3
            rows.append({"backend": label, "batch": batch, "median ms": timed.seconds(label) * 1e3,
                         "cases/s": batch / timed.seconds(label), "x onnxruntime": median,
                         "min x": low, "max x": high})
            if label.startswith("coreml-emulated") and label != PROFILE_BASE and PROFILE_BASE in labels:
                median, low, high = timed.summary(label, PROFILE_BASE)
                profiles.append({"profile": label, "batch": batch, "x fp32 profile": median,
                                 "min x": low, "max x": high})
    rows.sort(key=lambda r: labels.index(r["backend"]))
    for r in rows:
        bench.add(f"backends ({model}), latency as a multiple of onnxruntime's (median of {rounds} rounds)", r)
    for r in sorted(profiles, key=lambda r: labels.index(r["profile"])):
        bench.add(f"emulated profiles ({model}), latency as a multiple of the fp32 profile's "
                  f"(median of {rounds} rounds)", r)


class _TimeUp(Exception):
    """Raised inside a Hypothesis test to end a timed run."""


def _timed_hypothesis(check: Callable, strategy, seconds: float) -> float:
    """Examples per second of `check` under Hypothesis for about `seconds` (no shrinking)."""
    from hypothesis import HealthCheck, Phase, given, settings

    count = [0]
    deadline = time.perf_counter() + seconds

    @settings(max_examples=10**9, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(example):
        if time.perf_counter() > deadline:
            raise _TimeUp
        check(example)
        count[0] += 1

    start = time.perf_counter()
    with contextlib.suppress(_TimeUp):
        run()
    return count[0] / (time.perf_counter() - start)


def bench_fuzz(bench: Bench, model: str, artifacts: Path, seconds: float = 10.0,
               progress: Callable[[str], None] = lambda _m: None) -> None:
    from harness import api
    from trendsplit.strategies import watch_logs

    spec = api.model(model)
    backends = api.backends(spec, ("torch", "onnxruntime", "coreml-emulated@fp32"), artifacts / spec.name,
                             progress=progress)

    def parity_check(points):
        x = encode(points)[None]
        ref = backends[0].predict(x)
        for b in backends[1:]:
            # One example is never conclusive (a candidate ignoring its inputs could match it), so the check
            # is that nothing fails; parity over many cases judges the rest.
            assert api.judge_output(spec, ref, b.predict(x), policy="fp32", inputs=x).verdict != "fail"

    progress(f"fuzzing the three-backend parity check for {seconds:.0f} s")
    rows = [{"mode": "parity torch/onnxruntime/coreml-emulated, Hypothesis",
             "cases/s": _timed_hypothesis(parity_check, watch_logs(), seconds)}]
    rows += _swift_rates(seconds, progress)
    base = rows[0]["cases/s"]
    for r in rows:
        r["x parity check"] = r["cases/s"] / base
        bench.add("fuzz throughput", r)


def _swift_rates(seconds: float, progress) -> list[dict]:
    import shutil

    if shutil.which("swift") is None:
        return []
    from trendsplit import differential, swift_encoder
    from trendsplit.strategies import watch_logs

    progress("building the Swift encoder")
    with swift_encoder.SwiftEncoder(swift_encoder.build()) as enc:

        def differential_check(points):
            assert np.array_equal(enc.encode(points).bits, encode(points).view(np.uint32))

        progress(f"fuzzing Python vs Swift (Hypothesis) for {seconds:.0f} s")
        hyp = _timed_hypothesis(differential_check, watch_logs(), seconds)
        progress(f"fuzzing Python vs Swift (Hypothesis frames, binary) for {seconds:.0f} s")
        frames = differential.hypothesis_frames(enc, examples=10**9, seconds=seconds)
        progress("Python vs Swift, binary batches: 200,000 cases")
        batch = differential.run(enc, 200_000, seed=0)
    return [{"mode": "Python vs Swift encoder, Hypothesis (JSON lines)", "cases/s": hyp},
            {"mode": "Python vs Swift encoder, Hypothesis frames of 1..128 series (binary)", "cases/s": frames.rate},
            {"mode": "Python vs Swift encoder, seeded batches (binary)", "cases/s": batch.rate}]


def run(
    model: str = "trendsplit",
    artifacts: str | Path = "artifacts",
    fuzz_seconds: float = 10.0,
    rounds: int = ROUNDS,
    progress: Callable[[str], None] = lambda _m: None,
) -> Bench:
    bench = Bench()
    progress("timing the encoder")
    bench_encoder(bench)
    bench_backends(
        bench,
        model,
        [
            "onnxruntime",
            "torch",
            "coreml-emulated@fp32[fp32]",
            "coreml-emulated@fp16[fp16-storage]",
            "coreml-emulated@fp16[fp16]",
            # ExecuTorch's runtime (skipped, said why, without its extra): the CPU programs apps ship.
            "executorch@fp32[xnnpack]",
            "executorch@int8[xnnpack]",
            "executorch@fp32[portable]",
        ],
        Path(artifacts),
        rounds=rounds,
        progress=progress,
    )
    bench_fuzz(bench, model, Path(artifacts), fuzz_seconds, progress)
    return bench
