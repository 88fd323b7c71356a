"""argsort along `axis`, descending unless `ascending`; equal values keep their order (stable)."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, axis=-1, ascending=False):
    v = f32(x)
    key = v if bool(ascending) else -v if np.issubdtype(v.dtype, np.floating) else -v.astype(np.int64)
    return np.argsort(key, axis=int(axis), kind="stable").astype(np.int32)
