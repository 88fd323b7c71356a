"""reduce_sum over `axes` (all when none), keep_dims, with the profile's accumulation."""

from harness.mil.ops._common import axes_of, f32


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    return ctx.sum(v, axes_of(v, axes), keepdims=bool(keep_dims))
