"""An example of a user's 1-D model, described with the public API (not in the registry).

A sensor series [N, 2, 64] (a value channel and a time channel) in, a probability per position
[N, 64] out; the app decides at each position by the 0.5 threshold. Three dilated convolutions and
a sigmoid: the kind of small sequence model most harness tests need, with no kit behind it.
"""

import numpy as np
import torch
from torch import nn

from harness import api

LENGTH = 64


class Series(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(2, width, 5, padding=2), nn.ReLU(),
            nn.Conv1d(width, width, 3, dilation=2, padding=2), nn.ReLU(),
            nn.Conv1d(width, 1, 1),
        )

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        logits = self.body(series).squeeze(1)
        # Untrained: logits about the series' own mean, scaled, so decisions fall both ways and most are confident.
        return torch.sigmoid(8 * (logits - logits.mean(dim=-1, keepdim=True)))


def inputs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Random walks with a step of offset somewhere, over evenly spaced times in [0, 1]."""
    walk = np.cumsum(rng.normal(scale=0.3, size=(n, LENGTH)), axis=1)
    at = rng.integers(8, LENGTH - 8, size=(n, 1))
    walk += np.where(np.arange(LENGTH) >= at, rng.normal(scale=2.0, size=(n, 1)), 0.0)
    times = np.broadcast_to(np.linspace(0.0, 1.0, LENGTH), (n, LENGTH))
    return {"series": np.stack([walk, times], axis=1).astype(np.float32)}


def describe_model():
    return api.describe(
        "series",
        lambda: api.seeded(Series),
        inputs={"series": (None, 2, LENGTH)},
        outputs={"probs": (None, LENGTH)},
        make_inputs=inputs,
        decision="threshold",
        decision_output="probs",
        weights_source="seeded random init (tests/user_model/series.py)",
        metadata={"input_version": "1"},  # travels into the exports, as an app's input encoding would
        trained=False,
    )
