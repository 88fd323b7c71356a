"""threshold: max(x, alpha), a lower bound."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, alpha):
    return np.maximum(f32(x), f32(alpha))
