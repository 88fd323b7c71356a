"""local_response_norm: x / (k + alpha / size * sum of x^2 over nearby channels)^beta.

The window over channels runs from c - size // 2 to c + (size - 1) // 2, zero padded, as in
torch.nn.LocalResponseNorm, which coremltools' own tests check this op against on device.
"""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, size, alpha=1e-4, beta=0.75, k=1.0):
    v = f32(x)
    size = int(size)
    squares = np.moveaxis(v * v, 1, -1)  # channels last
    padded = np.pad(squares, [(0, 0)] * (v.ndim - 1) + [(size // 2, (size - 1) // 2)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=-1)
    total = np.moveaxis(f32(ctx.sum(windows, -1, keepdims=False)), -1, 1)
    return v / (np.float32(k) + np.float32(alpha) / np.float32(size) * total) ** np.float32(beta)
