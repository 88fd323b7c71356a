"""reduce_sum_square: sum of squares over `axes` (all when none)."""


from harness.mil.ops._common import axes_of, f32


def run(ctx, x, axes=None, keep_dims=False):
    v = f32(x)
    return ctx.sum(v * v, axes_of(v, axes), keepdims=bool(keep_dims))
