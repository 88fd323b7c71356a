"""relu: max(x, 0)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x):
    return np.maximum(f32(x), np.float32(0))
