"""rsqrt: 1 / sqrt(x + epsilon), epsilon defaulting to 1e-12 (float32)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, epsilon=1e-12):
    return np.float32(1) / np.sqrt(f32(x) + np.float32(epsilon))
