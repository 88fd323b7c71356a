"""list_scatter: the list with value[k] written at indices[k] (a dynamic list grows to fit)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, ls, indices, value):
    for k, i in enumerate(ints(indices)):
        ls = ls.write(i, np.asarray(value)[k])
    return ls
