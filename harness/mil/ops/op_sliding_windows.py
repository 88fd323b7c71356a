"""sliding_windows: windows of `size` every `stride` along `axis`, a new axis of length size after it."""

import numpy as np


def run(ctx, x, axis, size, stride=1):
    x = np.asarray(x)
    axis = int(axis) % x.ndim
    w = np.lib.stride_tricks.sliding_window_view(x, int(size), axis=axis)[
        (slice(None),) * axis + (slice(None, None, int(stride)),)]
    return np.moveaxis(w, -1, axis + 1)
