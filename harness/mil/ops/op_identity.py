"""identity: x unchanged."""

import numpy as np


def run(ctx, x):
    return np.asarray(x)
