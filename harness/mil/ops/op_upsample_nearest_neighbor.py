"""upsample_nearest_neighbor over the last two axes: out[i] = in[floor(i / scale)]."""

import numpy as np


def run(ctx, x, scale_factor_height=1, scale_factor_width=1):
    out = x
    for axis, scale in ((-2, float(scale_factor_height)), (-1, float(scale_factor_width))):
        size = x.shape[axis]
        index = np.minimum(np.floor(np.arange(int(np.floor(size * scale))) / scale).astype(int), size - 1)
        out = np.take(out, index, axis=axis)
    return out
