"""matmul: batched, broadcasting matrix product with optional transposes."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, y, transpose_x=False, transpose_y=False):
    a, b = f32(x), f32(y)
    if bool(transpose_x):
        a = np.swapaxes(a, -1, -2)
    if bool(transpose_y):
        b = np.swapaxes(b, -1, -2)
    return ctx.matmul(a, b)
