"""flatten2d: [prod(shape[:axis]), prod(shape[axis:])] (negative axis counts from the rank)."""

import numpy as np


def run(ctx, x, axis=1):
    x = np.asarray(x)
    axis = int(axis) + x.ndim if int(axis) < 0 else int(axis)
    return x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))
