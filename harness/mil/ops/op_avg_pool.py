"""avg_pool: N-d average pooling with pad types, exclude_padding_from_average and ceil_mode.

The divisor counts the window's positions inside the padded input (inside the input alone with
exclude_padding_from_average); positions that ceil_mode adds past the padding never count.
"""

import numpy as np

from harness.mil.ops._common import f32, ints, windows
from harness.mil.ops._pool import pool


def run(ctx, x, kernel_sizes, strides=None, pad_type="valid", pad=None,
        exclude_padding_from_average=False, ceil_mode=False):
    w, pads, extra = pool(ctx, x, kernel_sizes, strides, pad_type, pad, ceil_mode, 0.0)
    nd = np.ndim(x) - 2
    axes = tuple(range(-nd, 0))
    sums = f32(ctx.sum(w, axes, keepdims=False))
    spatial = np.shape(x)[2:]
    if bool(exclude_padding_from_average):
        counted = np.pad(np.ones((1, 1, *spatial), np.float32),
                         [(0, 0), (0, 0)] + [(b, a + e) for (b, a), e in zip(pads, extra, strict=True)])
    else:
        padded = [s + b + a for s, (b, a) in zip(spatial, pads, strict=True)]
        counted = np.pad(np.ones((1, 1, *padded), np.float32), [(0, 0), (0, 0)] + [(0, e) for e in extra])
    steps = ints(strides) if strides is not None else [1] * nd
    counts = windows(counted, ints(kernel_sizes), steps, [1] * nd).sum(axis=axes)
    return sums / counts
