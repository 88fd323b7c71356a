"""Choosing a net's decision threshold on its validation logs, never on the held-out ones.

An app marks a split where the probability exceeds the model's declared threshold
(`ModelSpec.threshold`). Training never tunes it, so this measures each candidate on the
logs training selected on (the card's validation seed and size) and names the best by one
stated rule: the highest F1 + F1 within one index, ties going to the candidate nearest
0.5, the untuned default. Whether to adopt it is the held-out evaluation's call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from harness.toolkit import atomic
from trendsplit import data, train
from trendsplit.encoding import DEFAULT_THRESHOLD, decode
from trendsplit.metrics import SplitScores, paired_bootstrap, score

GRID = tuple(round(0.05 + 0.01 * i, 2) for i in range(66))  # 0.05 .. 0.70: the measured curve is flat past both ends
RULE = "max F1 + F1 within one index on the validation logs; ties to the threshold nearest 0.5"


@dataclass(frozen=True)
class Point:
    threshold: float
    exact: SplitScores
    within_1: SplitScores

    @property
    def criterion(self) -> float:
        return self.exact.f1 + self.within_1.f1

    def to_dict(self) -> dict:
        e, w = self.exact, self.within_1
        return {"threshold": self.threshold, "precision": e.precision, "recall": e.recall, "f1": e.f1,
                "precision_within_1": w.precision, "recall_within_1": w.recall, "f1_within_1": w.f1}


@dataclass(frozen=True)
class Sweep:
    arch: str
    seed: int
    n: int
    points: tuple[Point, ...]
    #: The best's F1 minus the untuned 0.5's, exact and within one, each (difference, 95% low, high)
    #: by a paired bootstrap over the logs.
    gain: dict[str, tuple[float, float, float]] | None = None

    @property
    def best(self) -> Point:
        return max(self.points, key=lambda p: (p.criterion, -abs(p.threshold - DEFAULT_THRESHOLD)))

    def render(self) -> str:
        lines = [f"{self.arch}: decision threshold on {self.n} validation logs (seed {self.seed}); rule: {RULE}",
                 f"{'threshold':>9s} {'P':>6s} {'R':>6s} {'F1':>6s} {'P±1':>6s} {'R±1':>6s} {'F1±1':>6s}"]
        for p in self.points:
            e, w = p.exact, p.within_1
            mark = "  <- best" if p is self.best else ""
            lines.append(f"{p.threshold:9.2f} {e.precision:6.3f} {e.recall:6.3f} {e.f1:6.4f} "
                         f"{w.precision:6.3f} {w.recall:6.3f} {w.f1:6.4f}{mark}")
        for kind, (d, low, high) in (self.gain or {}).items():
            lines.append(f"best - {DEFAULT_THRESHOLD}: F1 {kind} {d:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}]")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"rule": RULE, "validation": {"seed": self.seed, "n": self.n}, "best": self.best.threshold,
                "gain_over_default": self.gain, "curve": [p.to_dict() for p in self.points]}


def curve(probs: np.ndarray, lengths: Sequence[int], truths: Sequence[Sequence[int]],
          grid: Sequence[float] = GRID) -> tuple[Point, ...]:
    """Scores of the decisions at each threshold of `grid`, from probabilities [N, L] computed once."""
    points = []
    for t in grid:
        preds = [decode(p, int(n), t) for p, n in zip(probs, lengths, strict=True)]
        points.append(Point(float(t), score(preds, truths), score(preds, truths, 1)))
    return tuple(points)


def sweep(arch: str, grid: Sequence[float] = GRID, n: int | None = None, folder: Path = train.WEIGHTS) -> Sweep:
    """The committed net's curve on its card's validation logs (the first `n` of them, when given)."""
    card = json.loads((folder / f"{arch}.card.json").read_text())
    seed, size = card["data"]["val_seed"], card["data"]["val_size"]
    habits = data.TRAINING_HABITS[card["recipe"].get("habits", "default")]  # cards before habits: the defaults
    val = data.dataset(size, seed, train.ARCHITECTURES[arch].encoding_version, habits)
    n = size if n is None else min(n, size)
    module = train.load(arch, folder)
    with torch.inference_mode():
        probs = torch.cat([module(torch.from_numpy(val.inputs[i:i + 1024])) for i in range(0, n, 1024)])[:n]
    probs, lengths, truths = probs.numpy(), val.lengths[:n], [log.breaks for log in val.logs[:n]]
    result = Sweep(arch, seed, n, curve(probs, lengths, truths, grid))
    best, default = ([decode(p, int(k), t) for p, k in zip(probs, lengths, strict=True)]
                     for t in (result.best.threshold, DEFAULT_THRESHOLD))
    gain = {kind: paired_bootstrap(best, default, truths, tolerance) for kind, tolerance in (("exact", 0),
                                                                                          ("within_1", 1))}
    return replace(result, gain=gain)


def record(sweep: Sweep, declared: float, folder: Path = train.WEIGHTS) -> Path:
    """Write the sweep and the threshold the model's spec declares into the net's card
    (`threshold_sweep`), atomically; the rest of the card is kept."""
    path = folder / f"{sweep.arch}.card.json"
    card = json.loads(path.read_text())
    card["threshold_sweep"] = {"declared": declared, **sweep.to_dict()}
    return atomic.write_text(path, json.dumps(card, indent=2, sort_keys=True) + "\n")
