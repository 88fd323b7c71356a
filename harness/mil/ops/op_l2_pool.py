"""l2_pool: sqrt of the sum of squares over each window (zero padding), with pad types."""

import numpy as np

from harness.mil.ops._common import f32
from harness.mil.ops._pool import pool


def run(ctx, x, kernel_sizes, strides=None, pad_type="valid", pad=None, ceil_mode=False):
    w, _, _ = pool(ctx, x, kernel_sizes, strides, pad_type, pad, ceil_mode, 0.0)
    nd = np.ndim(x) - 2
    return np.sqrt(f32(ctx.sum(w * w, tuple(range(-nd, 0)), keepdims=False)))
