"""squeeze: drop the size-1 `axes` (a listed axis that is not size 1 stays, as in PyTorch); all size-1 axes
when none are given."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, axes=None):
    x = np.asarray(x)
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(a % x.ndim for a in ints(axes) if x.shape[a] == 1))
