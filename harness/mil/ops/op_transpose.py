"""transpose by `perm`."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, perm):
    return np.transpose(np.asarray(x), ints(perm))
