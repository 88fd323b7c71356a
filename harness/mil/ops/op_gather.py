"""gather along `axis` (negative indices count from the end); iOS16+ batch_dims as in tf.gather."""

import numpy as np

from harness.mil.ops._scatter import positive


def run(ctx, x, indices, axis=0, batch_dims=0, validate_indices=False):
    x = np.asarray(x)
    axis = int(axis) % x.ndim
    idx = positive(indices, x.shape[axis])
    b = int(batch_dims) % (idx.ndim + 1) if idx.ndim else 0
    if b == 0:
        return np.take(x, idx, axis=axis)
    # out[B..., before..., I..., after...] = x[B..., before..., idx[B..., I...], after...]
    out = [run(ctx, x[pos], idx[pos], axis - b) for pos in np.ndindex(*x.shape[:b])]
    return np.stack(out).reshape(x.shape[:b] + out[0].shape)
