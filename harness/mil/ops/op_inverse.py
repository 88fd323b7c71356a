"""inverse: 1 / (x + epsilon), epsilon defaulting to 1e-4 (float32)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, epsilon=1e-4):
    return np.float32(1) / (f32(x) + np.float32(epsilon))
