"""reduce_min: the smallest element over `axes` (all when none)."""

import numpy as np

from harness.mil.ops._common import axes_of, f32


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    return np.min(v, axis=axes_of(v, axes), keepdims=bool(keep_dims))
