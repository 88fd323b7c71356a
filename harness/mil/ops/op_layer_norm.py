"""layer_norm: (x - mean) / sqrt(var + epsilon) * gamma + beta over `axes` (population variance).

gamma and beta have shape x.shape[axes] (the op's spec), so they are laid out along the
normalized axes wherever those sit, not broadcast against the trailing ones.
"""

import numpy as np

from harness.mil.ops._common import f32, ints


def run(ctx, x, axes=None, gamma=None, beta=None, epsilon=1e-5):
    v = f32(x)
    axes = sorted({a % v.ndim for a in ints(axes)}) if axes is not None else list(range(v.ndim))
    normalized = [v.shape[a] if a in axes else 1 for a in range(v.ndim)]
    count = np.float32(np.prod([v.shape[a] for a in axes]))
    mean = f32(ctx.sum(v, axes)) / count
    centred = v - mean
    var = f32(ctx.sum(centred * centred, axes)) / count
    y = centred / np.sqrt(var + np.float32(epsilon))
    if gamma is not None:
        y = y * f32(gamma).reshape(normalized)
    if beta is not None:
        y = y + f32(beta).reshape(normalized)
    return y
