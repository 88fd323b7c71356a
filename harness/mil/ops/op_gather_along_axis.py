"""gather_along_axis: out[..., i, ...] = x[..., indices[..., i, ...], ...] along `axis` (numpy's take_along_axis)."""

import numpy as np

from harness.mil.ops._scatter import positive


def run(ctx, x, indices, axis=0, validate_indices=False):
    x = np.asarray(x)
    axis = int(axis) % x.ndim
    return np.take_along_axis(x, positive(indices, x.shape[axis]), axis=axis)
