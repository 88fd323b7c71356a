"""one_hot: on_value where the new `axis` equals the index, off_value elsewhere (out-of-range: all off)."""

import numpy as np


def run(ctx, indices, one_hot_vector_size, axis=-1, on_value=1, off_value=0):
    idx = np.asarray(indices).astype(np.int64)
    depth = int(np.asarray(one_hot_vector_size).reshape(-1)[0])
    axis = int(axis) % (idx.ndim + 1)
    hot = np.expand_dims(idx, axis) == np.arange(depth).reshape([-1 if a == axis else 1 for a in range(idx.ndim + 1)])
    return np.where(hot, np.asarray(on_value), np.asarray(off_value))
