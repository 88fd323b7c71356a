"""sigmoid_hard: min(max(alpha * x + beta, 0), 1)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, alpha, beta):
    return np.clip(f32(alpha) * f32(x) + f32(beta), np.float32(0), np.float32(1))
