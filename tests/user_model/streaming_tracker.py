"""A held-out-style stateful model, as a user would bring it: a streaming tracker that keeps a recurrent
summary of the readings so far and its position in the stream (sinusoidal position features, as decoders use),
in registered buffers that every call updates.

`describe_model` starts the stream at position 0. `describe_long_running` starts it at 2046, as on a device
that has been tracking for a while: Core ML keeps states in float16, which holds whole numbers exactly only up
to 2048, so the program's position sticks at 2048 while torch's moves on, and parity fails from the third call.
"""

import numpy as np
import torch
from torch import nn

from harness import api


class StreamingTracker(nn.Module):
    def __init__(self, start=0.0, features=4, hidden=12, classes=3):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.rec = nn.Linear(hidden, hidden, bias=False)
        self.head = nn.Linear(hidden + 2, classes)
        self.register_buffer("summary", torch.zeros(1, hidden))
        self.register_buffer("position", torch.full((1, 1), float(start)))

    def forward(self, reading):
        self.summary[:, :] = torch.tanh(self.inp(reading) + 0.8 * self.rec(self.summary))
        self.position[:, :] = self.position + 1
        where = torch.cat([torch.sin(self.position), torch.cos(self.position)], dim=1)
        return self.head(torch.cat([self.summary * 3, where], dim=1))


def readings(rng, n):  # n = cases x calls rows, in that order
    return {"reading": (rng.normal(size=(n, 4)) * 2).astype(np.float32)}


def _describe(start):
    return api.describe(
        "streaming-tracker", lambda: api.seeded(lambda: StreamingTracker(start)), inputs={"reading": (None, 4)},
        outputs={"logits": (None, 3)}, make_inputs=readings, decision="argmax", states=("summary", "position"),
        steps=5)


def describe_model():
    return _describe(0.0)


def describe_long_running():
    return _describe(2046.0)
