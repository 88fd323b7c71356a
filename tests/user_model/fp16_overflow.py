"""An example of a user's model whose fp16 program overflows: values past float16's 65,504 on some inputs.

Same contract as `series.py`. An amplifier (a Linear, then x1000) on the embedded series sits
before a LayerNorm: for series whose values reach a few hundred (an offset the inputs draw in about
one case in four) the product passes float16's maximum, an fp16 program turns it into infinity
and the LayerNorm into NaN, while float32 keeps every value finite. The harness must say so and
name the op.
"""

import numpy as np
import torch
from torch import nn

from harness import api

from .series import LENGTH
from .series import inputs as series_inputs

AMPLIFY = 1000.0


class Fp16Overflow(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.embed = nn.Conv1d(2, width, 3, padding=1)
        self.amplifier = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Conv1d(width, 1, 1)

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        embedded = self.embed(series).transpose(1, 2)  # N, L, W: grows with the input
        loud = self.norm(self.amplifier(embedded) * AMPLIFY + embedded)
        return torch.sigmoid(4 * self.head(loud.transpose(1, 2))).squeeze(1)


def inputs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """`series.py`'s inputs, with about one case in four lifted by an offset of 300 to 600."""
    feeds = series_inputs(rng, n)
    lifted = rng.random(n) < 0.25
    feeds["series"][:, 0] += (lifted * rng.uniform(300.0, 600.0, size=n)).astype(np.float32)[:, None]
    return feeds


def describe_model():
    return api.describe(
        "fp16-overflow",
        lambda: api.seeded(Fp16Overflow),
        inputs={"series": (None, 2, LENGTH)},
        outputs={"probs": (None, LENGTH)},
        make_inputs=inputs,
        decision="threshold",
        decision_output="probs",
        weights_source="seeded random init (tests/user_model/fp16_overflow.py)",
        trained=False,
    )
