"""reduce_mean over `axes` (all when none), keep_dims; the sum uses the profile's accumulation."""

import numpy as np

from harness.mil.ops._common import f32, ints


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    axes = tuple(ints(axes)) if axes is not None else tuple(range(v.ndim))
    count = np.float32(np.prod([v.shape[a] for a in axes]))
    return f32(ctx.sum(v, axes, keepdims=bool(keep_dims))) / count
