"""sigmoid: 1 / (1 + exp(-x))."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x):
    return (1.0 / (1.0 + np.exp(-f32(x)))).astype(np.float32)
