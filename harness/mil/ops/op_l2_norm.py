"""l2_norm: x / sqrt(sum(x^2) + epsilon), the sum over the last three axes (leading axes are batch)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, epsilon=1e-6):
    v = f32(x)
    axes = tuple(range(max(v.ndim - 3, 0), v.ndim))
    return v / np.sqrt(f32(ctx.sum(v * v, axes)) + np.float32(epsilon))
