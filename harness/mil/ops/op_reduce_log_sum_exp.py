"""reduce_log_sum_exp: log(sum(exp(x))) over `axes`, max-shifted so large inputs stay finite."""

import numpy as np

from harness.mil.ops._common import axes_of, f32


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    axes = axes_of(v, axes)
    peak = np.max(v, axis=axes, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, np.float32(0))
    total = f32(ctx.sum(np.exp(v - peak), axes, keepdims=True))
    out = np.log(total) + peak
    return out if bool(keep_dims) else np.squeeze(out, axis=axes)
