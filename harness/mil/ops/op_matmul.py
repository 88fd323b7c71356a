"""matmul: batched, broadcasting matrix product with optional transposes; 1-D operands as numpy does."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, y, transpose_x=False, transpose_y=False):
    a, b = f32(x), f32(y)
    if bool(transpose_x) and a.ndim > 1:
        a = np.swapaxes(a, -1, -2)
    if bool(transpose_y) and b.ndim > 1:
        b = np.swapaxes(b, -1, -2)
    squeeze = []
    if a.ndim == 1:
        a, squeeze = a[None, :], squeeze + [-2]
    if b.ndim == 1:
        b, squeeze = b[:, None], squeeze + [-1]
    out = ctx.matmul(a, b)
    if squeeze:
        out = np.squeeze(out, axis=tuple(squeeze))
    return out
