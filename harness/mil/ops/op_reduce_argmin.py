"""reduce_argmin: index of the smallest element along `axis` (first on ties), keep_dims.

The iOS17 variant's `output_dtype` is the output's declared dtype, which the interpreter applies.
"""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, axis=-1, keep_dims=False, output_dtype="int32"):
    v = f32(x)
    return np.argmin(v, axis=int(axis), keepdims=bool(keep_dims)).astype(np.int32)
