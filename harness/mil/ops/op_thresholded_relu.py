"""thresholded_relu: x where x >= alpha, else 0."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, alpha):
    v = f32(x)
    return np.where(v >= f32(alpha), v, np.float32(0))
