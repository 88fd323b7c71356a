"""expand_dims: insert size-1 `axes` (negative axes count from the output's rank)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, axes):
    x = np.asarray(x)
    rank = x.ndim + len(ints(axes))
    return np.expand_dims(x, tuple(sorted(a % rank for a in ints(axes))))
