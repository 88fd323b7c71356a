"""dequantize (iOS17): scale * (input - zero_point) for int8 / uint8 input, scale and zero_point scalars or
vectors along `axis`; the result has the scale's dtype (the interpreter rounds it to the declared type)."""

import numpy as np

from harness.mil.ops._common import along


def run(ctx, input, scale, zero_point=None, axis=None):
    x = np.asarray(input).astype(np.float32)
    where = 0 if axis is None else int(axis) % x.ndim
    if zero_point is not None:
        x = x - along(np.asarray(zero_point).astype(np.float32), x.ndim, where)
    return x * along(scale, x.ndim, where)
