"""select: a where cond is true, else b, all three broadcasting."""

import numpy as np


def run(ctx, cond, a, b):
    return np.where(np.asarray(cond, dtype=bool), np.asarray(a), np.asarray(b))
