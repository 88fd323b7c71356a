"""local_response_norm: x / (k + alpha / size * sum of x^2 over nearby channels)^beta.

"Channels" is axis -3 for every rank (>= 3), as in Core ML's NN LRN layer (NeuralNetwork.proto,
LRNLayerParams: axes 0..-4 are batch). For rank 4 that is torch's channel axis 1; for rank 3 it
is axis 0, not the [n, C, D] the op's docstring draws: coremltools' smoke test, which runs on
devices, expects x of shape (1, 3, 2) normalized by each value's own square alone.
Assumption: an even window reaches one further before c than after (c - size // 2 to
c + (size - 1) // 2, zero padded), as torch.nn.LocalResponseNorm; no device test tells the sides apart.
"""

import numpy as np

from harness.mil.ops._common import f32

CHANNEL_AXIS = -3


def run(ctx, x, size, alpha=1e-4, beta=0.75, k=1.0):
    v = f32(x)
    if v.ndim < 3:
        raise ctx.unsupported(f"local_response_norm needs rank >= 3 (channels are axis -3), got rank {v.ndim}")
    size = int(size)
    squares = np.moveaxis(v * v, CHANNEL_AXIS, -1)  # channels last
    padded = np.pad(squares, [(0, 0)] * (v.ndim - 1) + [(size // 2, (size - 1) // 2)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=-1)
    total = np.moveaxis(f32(ctx.sum(windows, -1, keepdims=False)), -1, CHANNEL_AXIS)
    return v / (np.float32(k) + np.float32(alpha) / np.float32(size) * total) ** np.float32(beta)
