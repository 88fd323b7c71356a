"""softsign: x / (1 + |x|)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x):
    v = f32(x)
    return v / (np.float32(1) + np.abs(v))
