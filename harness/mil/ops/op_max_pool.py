"""max_pool: N-d max pooling with pad types and ceil_mode (padding never wins the max)."""

import numpy as np

from harness.mil.ops._pool import pool


def run(ctx, x, kernel_sizes, strides=None, pad_type="valid", pad=None, ceil_mode=False):
    w, _, _ = pool(ctx, x, kernel_sizes, strides, pad_type, pad, ceil_mode, -np.inf)
    nd = np.ndim(x) - 2
    return np.max(w, axis=tuple(range(-nd, 0)))
