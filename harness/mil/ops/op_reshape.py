"""reshape to `shape` (a runtime value): -1 is inferred; 0 copies the input dim at the same place
counted from the right, or is 1 past the input's rank (the iOS17 rule; iOS15 allows 0 only when
the ranks match, where the two rules agree)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, shape):
    x = np.asarray(x)
    target = ints(shape) if np.size(shape) else []
    out = []
    for i, s in enumerate(target):
        if s == 0:
            j = x.ndim - (len(target) - i)
            out.append(x.shape[j] if j >= 0 else 1)
        else:
            out.append(s)
    return x.reshape(out)
