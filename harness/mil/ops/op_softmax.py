"""softmax along `axis`, max-subtracted; the denominator sums with the profile's accumulation."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, axis=-1):
    v = f32(x)
    e = np.exp(v - v.max(axis=int(axis), keepdims=True))
    if ctx.stores_fp16:
        e = e.astype(np.float16)  # exp's result is an fp16 tensor on fp16 hardware
    return f32(e) / f32(ctx.sum(e, int(axis)))
