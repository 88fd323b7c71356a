"""reverse along `axes` (all axes when none are given)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, axes=None):
    x = np.asarray(x)
    return np.flip(x, axis=None if axes is None else tuple(ints(axes)))
