"""Records that travel in files and are read where torch is not installed: numpy only.

A results file from a phone is judged on any machine (`harness.results`); what it needs to be
read must not import torch, coremltools or onnxruntime (tests/test_records_without_torch.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cases:
    """A seeded batch of model inputs, with what produced each one (for reports and replay)."""

    feeds: dict[str, np.ndarray]  # input name -> batch, shaped and typed as the input spec
    decision_mask: np.ndarray | None  # bool, shaped as the decision output: what an app reads
    kinds: tuple[str, ...]  # generator that made each case, e.g. "realistic", "epoch_seconds"
    raw: tuple  # what the app had before encoding (e.g. the [n, 2] points); may be empty
    seed: int

    @property
    def inputs(self) -> np.ndarray:
        """The batch of a single-input model."""
        if len(self.feeds) != 1:
            raise ValueError(f"these cases feed {len(self.feeds)} inputs ({', '.join(self.feeds)}); use .feeds")
        return next(iter(self.feeds.values()))

    def __len__(self) -> int:
        return len(next(iter(self.feeds.values())))

    def take(self, index) -> dict[str, np.ndarray]:
        """The feeds of a subset of cases."""
        return {k: v[index] for k, v in self.feeds.items()}
