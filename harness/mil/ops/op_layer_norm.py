"""layer_norm: (x - mean) / sqrt(var + epsilon) * gamma + beta over `axes` (population variance)."""

import numpy as np

from harness.mil.ops._common import f32, ints


def run(ctx, x, axes=None, gamma=None, beta=None, epsilon=1e-5):
    v = f32(x)
    axes = tuple(ints(axes)) if axes is not None else tuple(range(v.ndim))
    count = np.float32(np.prod([v.shape[a] for a in axes]))
    mean = f32(ctx.sum(v, axes)) / count
    centred = v - mean
    var = f32(ctx.sum(centred * centred, axes)) / count
    y = centred / np.sqrt(var + np.float32(epsilon))
    if gamma is not None:
        y = y * f32(gamma)
    if beta is not None:
        y = y + f32(beta)
    return y
