"""cumsum along `axis`, exclusive (shifted by one, starting at 0) and/or reversed."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, axis=0, exclusive=False, reverse=False):
    v = f32(x)
    axis = int(axis) % v.ndim
    if ctx.accumulate_fp16:
        v = v.astype(np.float16)  # every partial sum rounded to fp16
    if bool(reverse):
        v = np.flip(v, axis)
    out = np.cumsum(v, axis=axis, dtype=v.dtype)
    if bool(exclusive):
        zeros = np.zeros_like(np.take(out, [0], axis=axis))
        out = np.concatenate([zeros, np.take(out, np.arange(out.shape[axis] - 1), axis=axis)], axis=axis)
    return np.flip(out, axis) if bool(reverse) else out
