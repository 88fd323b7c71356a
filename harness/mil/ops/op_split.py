"""split x along `axis` into num_splits equal parts, or parts of split_sizes."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, axis, num_splits=None, split_sizes=None):
    x = np.asarray(x)
    axis = int(axis) % x.ndim
    if split_sizes is not None:
        sizes = ints(split_sizes)
    else:
        n = int(num_splits)
        sizes = [x.shape[axis] // n] * n
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))
