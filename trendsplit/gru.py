"""trendsplit-gru: the same task and contract as the conv net, with a bidirectional GRU.

    clamp to +-1000, transpose to [N, 100, 2]
    bidirectional GRU, 2 -> 2 x 24 hidden         (sees the whole series both ways)
    conv k1 48 -> 1 + sigmoid                      [N, 100]

4,081 parameters. It exists so the harness is tested on a recurrent architecture: CoreML
receives it as a `while_loop` with nested blocks (gather, scatter, slicing, reverse).
"""

from __future__ import annotations

import torch
from torch import nn

from harness import api

HIDDEN = 24
INPUT_LIMIT = 1000.0  # as trained; the conv net clamps at 100 since the harness showed why


class TrendSplitGRU(nn.Module):
    def __init__(self, hidden: int = HIDDEN):
        super().__init__()
        self.gru = nn.GRU(2, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Conv1d(2 * hidden, 1, 1)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        clamped = torch.clamp(points, -INPUT_LIMIT, INPUT_LIMIT)
        h, _ = self.gru(clamped.transpose(1, 2))
        return torch.sigmoid(self.head(h.transpose(1, 2))).squeeze(1)


def seeded(seed: int = 0) -> TrendSplitGRU:
    """Deterministic initial weights: PyTorch's default init, drawn exactly from a fixed seed (`api.seeded`)."""
    return api.seeded(TrendSplitGRU, seed)
