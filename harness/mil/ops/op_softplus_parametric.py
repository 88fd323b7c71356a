"""softplus_parametric: alpha[c] * log(1 + exp(beta[c] * x)), parameters per channel (axis 1)."""

import numpy as np

from harness.mil.ops._common import along, f32


def run(ctx, x, alpha, beta):
    v = f32(x)
    z = along(beta, v.ndim) * v
    return along(alpha, v.ndim) * (np.log1p(np.exp(-np.abs(z))) + np.maximum(z, np.float32(0)))
