"""reduce_mean over `axes` (all when none), keep_dims; the sum uses the profile's accumulation."""

import numpy as np

from harness.mil.ops._common import axes_of, f32


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    axes = axes_of(v, axes)
    count = np.float32(np.prod([v.shape[a] for a in axes]))
    return f32(ctx.sum(v, axes, keepdims=bool(keep_dims))) / count
