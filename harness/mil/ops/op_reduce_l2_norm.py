"""reduce_l2_norm: sqrt of the sum of squares over `axes` (all when none)."""

import numpy as np

from harness.mil.ops._common import axes_of, f32


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    return np.sqrt(f32(ctx.sum(v * v, axes_of(v, axes), keepdims=bool(keep_dims))))
