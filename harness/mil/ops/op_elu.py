"""elu: x for x > 0, else alpha * (exp(x) - 1)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, alpha):
    v = f32(x)
    return np.where(v > 0, v, f32(alpha) * np.expm1(v))
