"""Task quality of split decisions: precision, recall and F1, exact and within one index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SplitScores:
    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "true_positives": self.true_positives, "predicted": self.predicted, "actual": self.actual}


def matched(predicted: Sequence[int], actual: Sequence[int], tolerance: int) -> int:
    """One-to-one matches within `tolerance` indices, greedy in index order (optimal on a line)."""
    pred, act = sorted(predicted), sorted(actual)
    i = j = hits = 0
    while i < len(pred) and j < len(act):
        if abs(pred[i] - act[j]) <= tolerance:
            hits, i, j = hits + 1, i + 1, j + 1
        elif pred[i] < act[j]:
            i += 1
        else:
            j += 1
    return hits


def score(predictions: Iterable[Sequence[int]], truths: Iterable[Sequence[int]],
          tolerance: int = 0) -> SplitScores:
    tp = n_pred = n_act = 0
    for pred, act in zip(predictions, truths, strict=True):
        tp += matched(pred, act, tolerance)
        n_pred += len(pred)
        n_act += len(act)
    return SplitScores(tp, n_pred, n_act)


def paired_bootstrap(a: Sequence[Sequence[int]], b: Sequence[Sequence[int]], truths: Sequence[Sequence[int]],
                     tolerance: int = 0, draws: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """F1(a) - F1(b) on the same logs and its 95% interval over `draws` resamplings of the logs.

    Paired: a drawn log brings its predictions under both a and b, so the interval is that of
    the difference, far narrower than two separate intervals would suggest."""

    def counts(preds):
        return np.array([[matched(p, t, tolerance), len(p), len(t)] for p, t in zip(preds, truths, strict=True)],
                        dtype=np.int64).reshape(-1, 3)

    ca, cb = counts(a), counts(b)
    draws_idx = np.random.default_rng(seed).integers(0, len(ca), (draws, len(ca)))

    def f1(c) -> float:  # summed (tp, predicted, actual)
        return SplitScores(*(int(v) for v in c)).f1

    def resampled(c) -> np.ndarray:  # (draws, 3): each draw's summed counts, one column at a time
        return np.stack([c[:, k][draws_idx].sum(axis=1) for k in range(3)], axis=1)

    diffs = np.array([f1(x) - f1(y) for x, y in zip(resampled(ca), resampled(cb), strict=True)])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(f1(ca.sum(0)) - f1(cb.sum(0))), float(low), float(high)
