"""avg_pool: N-d average pooling with pad types and exclude_padding_from_average."""

import numpy as np

from harness.mil.ops._common import f32, ints, padding, windows


def run(ctx, x, kernel_sizes, strides=None, pad_type="valid", pad=None,
        exclude_padding_from_average=False, ceil_mode=False):
    if bool(ceil_mode):
        raise ctx.unsupported("avg_pool with ceil_mode=True is not supported")
    nd = x.ndim - 2
    kernel = tuple(ints(kernel_sizes))
    strides = ints(strides) if strides is not None else [1] * nd
    pads = padding(str(pad_type), pad, x.shape[2:], kernel, strides, [1] * nd, ctx)
    xp = np.pad(f32(x), [(0, 0), (0, 0), *pads])
    axes = tuple(range(-nd, 0))
    sums = f32(ctx.sum(windows(xp, kernel, strides, [1] * nd), axes, keepdims=False))
    if bool(exclude_padding_from_average) and any(p != (0, 0) for p in pads):
        ones = np.pad(np.ones((1, 1) + x.shape[2:], np.float32), [(0, 0), (0, 0), *pads])
        counts = windows(ones, kernel, strides, [1] * nd).sum(axis=axes)
    else:
        counts = np.float32(np.prod(kernel))
    return sums / counts
