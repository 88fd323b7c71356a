"""non_zero: the indices of the non-zero elements, one row each, as int32 [N, rank]."""

import numpy as np


def run(ctx, x):
    return np.argwhere(np.asarray(x)).astype(np.int32)
