"""fp16-stress: a small untrained model built to exercise fp16 hazards, not to be useful.

Same contract as trendsplit ([N, 2, 100] -> [N, 100] probabilities). Inside: LayerNorm,
GELU, softmax attention over the sequence, a residual connection, average pooling and
nearest-neighbour upsampling, and an amplifier (x1000 on the raw embedding) before a
second LayerNorm. For series whose encoded y reaches a few tens (large offsets over short
spans) its activations pass float16's maximum (65,504): an fp16 program overflows to
infinity there, the LayerNorm turns that into NaN, and the harness must say so.
"""

from __future__ import annotations

import torch
from torch import nn

from harness import api
from harness.api import ModelSpec
from trendsplit import models as trendsplit
from trendsplit.encoding import DEFAULT_THRESHOLD

AMPLIFY = 1000.0


class Fp16Stress(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.embed = nn.Conv1d(2, width, 3, padding=1)
        self.norm = nn.LayerNorm(width)
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.amplifier = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.pool = nn.AvgPool1d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv1d(width, 1, 1)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        embedded = self.embed(points).transpose(1, 2)  # N, L, W: grows with the input
        h = nn.functional.gelu(self.norm(embedded))
        scale = float(h.shape[-1]) ** 0.5
        attention = torch.softmax(self.query(h) @ self.key(h).transpose(1, 2) / scale, dim=-1)
        h = h + attention @ h  # residual
        # Overflows float16 once |encoded y| reaches a few tens: large offsets, short spans.
        loud = self.norm2(self.amplifier(embedded) * AMPLIFY + h)
        smooth = self.upsample(self.pool(loud.transpose(1, 2)))  # N, W, L
        return torch.sigmoid(self.head(smooth)).squeeze(1)


def seeded(seed: int = 0) -> Fp16Stress:
    """Deterministic initial weights: PyTorch's default init, drawn exactly from a fixed seed (`api.seeded`)."""
    return api.seeded(Fp16Stress, seed)


SPEC = ModelSpec(
    name="fp16-stress",
    description="LayerNorm, GELU, attention, residual, pool/upsample and an fp16-overflowing amplifier",
    build=seeded,
    inputs=trendsplit.INPUTS,  # the trendsplit contract, to stress what apps ship
    outputs=trendsplit.OUTPUTS,
    make_cases=trendsplit.make_cases,
    threshold=DEFAULT_THRESHOLD,
    weights_source="seeded random init (seed 0, drawn exactly), untrained by design",
    metadata=trendsplit.METADATA,
    trained=False,
)
