"""The convolution both conv and conv_transpose run: im2col windows and one profile-aware matmul per group."""

from __future__ import annotations

import numpy as np

from harness.mil.ops._common import f32, windows


def convolve(ctx, x, weight, strides, pads, dilations, groups: int) -> np.ndarray:
    """x [N, C, *D] (float32) with weight [C_out, C/groups, *K], explicit (before, after) pads."""
    nd = x.ndim - 2
    kernel = tuple(weight.shape[2:])
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    patches = windows(xp, kernel, strides, dilations)  # N, C, *out, *k
    n, c = x.shape[:2]
    out_shape = patches.shape[2 : 2 + nd]
    cout = weight.shape[0]
    outs = []
    for gi in range(groups):
        part = patches[:, gi * (c // groups) : (gi + 1) * (c // groups)]
        cols = np.moveaxis(part, 1, 1 + nd).reshape(n, -1, (c // groups) * int(np.prod(kernel)))
        wg = f32(weight[gi * (cout // groups) : (gi + 1) * (cout // groups)]).reshape(cout // groups, -1)
        outs.append(ctx.matmul(cols, wg.T))  # N, P, Cout/g
    y = np.concatenate(outs, axis=-1).astype(np.float32)
    return np.moveaxis(y.reshape(n, *out_shape, cout), -1, 1)
