"""prelu: x where x >= 0, else alpha[c] * x, alpha per channel (axis 1)."""

import numpy as np

from harness.mil.ops._common import along, f32


def run(ctx, x, alpha):
    v = f32(x)
    return np.where(v >= 0, v, along(alpha, v.ndim) * v)
