"""concat `values` along `axis`; with interleave, the inputs (same shape) alternate element by element."""

import numpy as np


def run(ctx, values, axis, interleave=False):
    arrays = [np.atleast_1d(np.asarray(v)) for v in values]
    dtype = np.result_type(*arrays)
    arrays = [a.astype(dtype) for a in arrays]
    axis = int(axis) % arrays[0].ndim
    if not bool(interleave):
        return np.concatenate(arrays, axis=axis)
    stacked = np.stack(arrays, axis=axis + 1)  # [..., d, n, ...]
    shape = list(arrays[0].shape)
    shape[axis] *= len(arrays)
    return stacked.reshape(shape)
