"""conv: N-d convolution (MIL iOS15), with groups, strides, dilations and pad types."""

import numpy as np

from harness.mil.ops._common import f32, ints, padding, windows


def run(ctx, x, weight, strides=None, pad_type="valid", pad=None, dilations=None, groups=1, bias=None):
    nd = x.ndim - 2
    kernel = tuple(weight.shape[2:])
    strides = ints(strides) if strides is not None else [1] * nd
    dilations = ints(dilations) if dilations is not None else [1] * nd
    pads = padding(str(pad_type), pad, x.shape[2:], kernel, strides, dilations, ctx)
    xp = np.pad(f32(x), [(0, 0), (0, 0), *pads])
    patches = windows(xp, kernel, strides, dilations)  # N, C, *out, *k
    n, c = x.shape[:2]
    out_shape = patches.shape[2 : 2 + nd]
    g = int(groups)
    cout = weight.shape[0]
    outs = []
    for gi in range(g):
        part = patches[:, gi * (c // g) : (gi + 1) * (c // g)]
        # N, *out, C/g * prod(k)
        cols = np.moveaxis(part, 1, 1 + nd).reshape(n, *out_shape, -1)
        wg = f32(weight[gi * (cout // g) : (gi + 1) * (cout // g)]).reshape(cout // g, -1)
        outs.append(ctx.matmul(cols.reshape(n, -1, cols.shape[-1]), wg.T))  # N, P, Cout/g
    y = np.concatenate(outs, axis=-1).astype(np.float32)
    if bias is not None:
        y = y + f32(bias)
    return np.moveaxis(y.reshape(n, *out_shape, cout), -1, 1)
