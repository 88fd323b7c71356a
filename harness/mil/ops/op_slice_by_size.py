"""slice_by_size: size[i] elements from begin[i] (negative begin counts from the end; size -1: to the end)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, begin, size):
    x = np.asarray(x)
    index = []
    for dim, b, n in zip(x.shape, ints(begin), ints(size), strict=True):
        b = b + dim if b < 0 else b
        index.append(slice(b, None if n < 0 else b + n))
    return x[tuple(index)]
