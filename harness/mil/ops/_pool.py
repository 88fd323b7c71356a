"""Pooling windows shared by avg_pool, max_pool and l2_pool: pad types and ceil_mode."""

from __future__ import annotations

import numpy as np

from harness.mil.ops._common import f32, ints, padding, windows


def pool_pads(ctx, x, kernel, strides, pad_type, pad, ceil_mode) -> tuple[list, list]:
    """(pads, extra): the op's padding per spatial axis, and what ceil_mode adds after it.

    ceil_mode sizes the output as ceil((D + pads - k) / s) + 1, less one when the last window
    would start past the input and its padding before (PyTorch's rule, which the spec follows).
    """
    nd = len(kernel)
    pads = padding(str(pad_type), pad, x.shape[2:], kernel, strides, [1] * nd, ctx)
    extra = [0] * nd
    if bool(ceil_mode):
        for i, (size, k, s, (before, after)) in enumerate(zip(x.shape[2:], kernel, strides, pads, strict=True)):
            span = size + before + after - k
            out = -(-span // s) + 1
            if (out - 1) * s >= size + before and before + after > 0:
                out -= 1
            extra[i] = max((out - 1) * s + k - (size + before + after), 0)
    return pads, extra


def pool(ctx, x, kernel_sizes, strides, pad_type, pad, ceil_mode, fill) -> tuple[np.ndarray, list, list]:
    """[N, C, *out, *kernel] windows of x padded with `fill`, with the pads and ceil extras."""
    v = f32(x)
    kernel = tuple(ints(kernel_sizes))
    nd = len(kernel)
    strides = ints(strides) if strides is not None else [1] * nd
    pads, extra = pool_pads(ctx, v, kernel, strides, pad_type, pad, ceil_mode)
    widths = [(0, 0), (0, 0)] + [(b, a + e) for (b, a), e in zip(pads, extra, strict=True)]
    padded = np.pad(v, widths, constant_values=fill)
    return windows(padded, kernel, strides, [1] * nd), pads, extra
