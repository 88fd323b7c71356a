"""reduce_sum over `axes` (all when none), keep_dims, with the profile's accumulation."""

from harness.mil.ops._common import f32, ints


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    axes = tuple(ints(axes)) if axes is not None else tuple(range(v.ndim))
    return ctx.sum(v, axes, keepdims=bool(keep_dims))
