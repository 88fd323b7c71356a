"""reduce_l1_norm: sum of |x| over `axes` (all when none), with the profile's accumulation."""

import numpy as np

from harness.mil.ops._common import axes_of, f32


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    return ctx.sum(np.abs(v), axes_of(v, axes), keepdims=bool(keep_dims))
