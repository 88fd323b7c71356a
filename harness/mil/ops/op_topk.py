"""topk: the k largest (or smallest, `ascending`) values along `axis` and their indices.

Equal values keep their order. iOS16+: `sort` (always sorted here: any order is allowed),
`return_indices`; iOS17+: k = -1 takes all, `output_indices_dtype` is the declared dtype.
"""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, k=1, axis=-1, ascending=False, sort=True, return_indices=True, output_indices_dtype="int32"):
    v = f32(x)
    axis = int(axis) % v.ndim
    key = v if bool(ascending) else -v if np.issubdtype(v.dtype, np.floating) else -v.astype(np.int64)
    order = np.argsort(key, axis=axis, kind="stable")
    k = int(k)
    order = np.take(order, np.arange(v.shape[axis] if k < 0 else k), axis=axis)
    values = np.take_along_axis(v, order, axis=axis)
    return (values, order.astype(np.int32)) if bool(return_indices) else values
