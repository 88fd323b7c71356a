"""sigmoid: 1 / (1 + exp(-x))."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x):
    return np.float32(1) / (np.float32(1) + np.exp(-f32(x)))
