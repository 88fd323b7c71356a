"""gather along `axis` (negative indices count from the end)."""

import numpy as np


def run(ctx, x, indices, axis=0, batch_dims=0, validate_indices=False):
    if int(batch_dims) != 0:
        raise ctx.unsupported("gather with batch_dims != 0 is not supported")
    x = np.asarray(x)
    axis = int(axis)
    idx = np.asarray(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return np.take(x, idx, axis=axis)
