"""Task quality of split decisions: precision, recall and F1, exact and within one index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


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
