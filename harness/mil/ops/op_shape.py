"""shape: the input's shape as int32."""

import numpy as np


def run(ctx, x):
    return np.array(np.shape(x), dtype=np.int32)
