"""softplus: log(1 + exp(x)), computed as log1p(exp(-|x|)) + max(x, 0) so large |x| stays finite."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x):
    v = f32(x)
    return np.log1p(np.exp(-np.abs(v))) + np.maximum(v, np.float32(0))
