"""instance_norm: normalize each (n, c) over the spatial axes (population variance), then gamma[c], beta[c]."""

import numpy as np

from harness.mil.ops._common import along, f32


def run(ctx, x, gamma=None, beta=None, epsilon=1e-5):
    v = f32(x)
    axes = tuple(range(2, v.ndim))
    count = np.float32(np.prod([v.shape[a] for a in axes]))
    centred = v - f32(ctx.sum(v, axes)) / count
    var = f32(ctx.sum(centred * centred, axes)) / count
    y = centred / np.sqrt(var + np.float32(epsilon))
    if gamma is not None:
        y = y * along(gamma, v.ndim)
    if beta is not None:
        y = y + along(beta, v.ndim)
    return y
