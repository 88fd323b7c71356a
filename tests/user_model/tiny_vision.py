"""An example of a user's own model, described with the public API (not in the registry).

Two inputs (an image-like [N, 3, 8, 8] and a [N, 4] vector), two outputs (class logits and a
score); the app decides by the argmax of the logits.
"""

import numpy as np
import torch
from torch import nn

from harness import api


class TinyVision(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.side = nn.Linear(4, 8)
        self.classes = nn.Linear(16, 5)
        self.score = nn.Linear(16, 1)

    def forward(self, image, meta):
        pooled = torch.relu(self.conv(image)).mean(dim=(2, 3))
        h = torch.cat([pooled, torch.relu(self.side(meta))], dim=1)
        return self.classes(h), torch.sigmoid(6 * self.score(h))  # 6: untrained, a score that varies


def inputs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"image": rng.normal(size=(n, 3, 8, 8)).astype(np.float32),
            "meta": rng.uniform(-1, 1, size=(n, 4)).astype(np.float32)}


def describe_model():
    return api.describe(
        "tiny-vision",
        lambda: api.seeded(TinyVision),
        inputs={"image": (None, 3, 8, 8), "meta": (None, 4)},
        outputs={"logits": (None, 5), "score": (None, 1)},
        make_inputs=inputs,
        decision="argmax",
        decision_output="logits",
    )
