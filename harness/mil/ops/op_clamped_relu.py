"""clamped_relu: min(beta, x) for x >= 0, else min(beta, alpha * x)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, alpha, beta):
    v, a, b = f32(x), f32(alpha), f32(beta)
    return np.minimum(np.where(v >= 0, v, a * v), b)
