"""batch_norm: (x - mean[c]) / sqrt(variance[c] + epsilon) * gamma[c] + beta[c], channels on axis 1."""

import numpy as np

from harness.mil.ops._common import along, f32


def run(ctx, x, mean, variance, gamma=None, beta=None, epsilon=1e-5):
    v = f32(x)
    y = (v - along(mean, v.ndim)) / np.sqrt(along(variance, v.ndim) + np.float32(epsilon))
    if gamma is not None:
        y = y * along(gamma, v.ndim)
    if beta is not None:
        y = y + along(beta, v.ndim)
    return y
