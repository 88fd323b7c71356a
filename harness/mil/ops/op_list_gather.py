"""list_gather: the elements at `indices`, stacked on a new leading axis."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, ls, indices):
    return np.stack([ls.read(i) for i in ints(indices)])
