"""squeeze: drop the size-1 `axes` (all size-1 axes when none are given)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, axes=None):
    x = np.asarray(x)
    return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(ints(axes)))
