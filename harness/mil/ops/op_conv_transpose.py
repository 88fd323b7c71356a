"""conv_transpose: the transpose of conv, as a stride-1 conv of the stride-dilated input.

The full output ((D - 1) * stride + (K - 1) * dilation + 1 per axis) is cropped by `pad`
(custom), by (K_dilated - stride) split floor-first (same: D * stride, the gradient of a
`same` conv), or not at all (valid); `output_shape`, when given, sets the spatial size
(cropped, or zero-extended, after the leading crop).
"""

import numpy as np

from harness.mil.ops._common import f32, ints
from harness.mil.ops._conv import convolve


def run(ctx, x, weight, bias=None, pad=None, output_shape=None, pad_type="valid", strides=None, dilations=None,
        groups=1):
    v = f32(x)
    w = f32(weight)  # [C_in, C_out / groups, *K]
    nd = v.ndim - 2
    g = int(groups)
    strides = ints(strides) if strides is not None else [1] * nd
    dilations = ints(dilations) if dilations is not None else [1] * nd
    kernel = w.shape[2:]
    dilated = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    # spread the input out by the strides
    spread = np.zeros(v.shape[:2] + tuple((s_in - 1) * s + 1 for s_in, s in zip(v.shape[2:], strides, strict=True)),
                      np.float32)
    spread[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)] = v
    # per group [C_in/g, C_out/g, K] -> [C_out/g, C_in/g, K], flipped in space
    cin = w.shape[0] // g
    parts = [np.swapaxes(w[gi * cin : (gi + 1) * cin], 0, 1) for gi in range(g)]
    flipped = np.flip(np.concatenate(parts, axis=0), axis=tuple(range(2, 2 + nd)))
    full = convolve(ctx, spread, flipped, [1] * nd, [(k - 1, k - 1) for k in dilated], dilations, g)
    if pad_type == "custom":
        p = ints(pad) if pad is not None else [0] * (2 * nd)
        crops = [(p[2 * i], p[2 * i + 1]) for i in range(nd)]
    elif pad_type == "same":
        totals = [max(k - s, 0) for k, s in zip(dilated, strides, strict=True)]
        crops = [(t // 2, t - t // 2) for t in totals]
    elif pad_type == "valid":
        crops = [(0, 0)] * nd
    else:
        raise ctx.unsupported(f"conv_transpose pad_type {pad_type!r} is not supported")
    sizes = [full.shape[2 + i] - b - a for i, (b, a) in enumerate(crops)]
    if pad_type == "same":
        sizes = [d * s for d, s in zip(v.shape[2:], strides, strict=True)]
    if output_shape is not None:
        sizes = ints(output_shape)[-nd:]
    out = np.zeros(full.shape[:2] + tuple(sizes), np.float32)
    index = tuple(slice(b, b + min(n, full.shape[2 + i] - b)) for i, ((b, _), n) in enumerate(zip(crops, sizes,
                                                                                                 strict=True)))
    kept = full[(slice(None), slice(None)) + index]
    out[(slice(None), slice(None)) + tuple(slice(0, k) for k in kept.shape[2:])] = kept
    if bias is not None:
        out = out + f32(bias).reshape([-1] + [1] * nd)
    return out
