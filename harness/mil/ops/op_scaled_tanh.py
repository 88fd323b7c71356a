"""scaled_tanh: alpha * tanh(beta * x)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, alpha, beta):
    return f32(alpha) * np.tanh(f32(beta) * f32(x))
