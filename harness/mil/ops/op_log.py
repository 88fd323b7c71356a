"""log: log(x + epsilon), epsilon defaulting to 1e-45 (float32)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, epsilon=1e-45):
    return np.log(f32(x) + np.float32(epsilon))
