"""linear: x @ weight.T + bias, x of rank 1 to 3."""

from harness.mil.ops._common import f32


def run(ctx, x, weight, bias=None):
    v = f32(x)
    y = f32(ctx.matmul(v.reshape(1, -1) if v.ndim == 1 else v, f32(weight).T))
    y = y.reshape(-1) if v.ndim == 1 else y
    return y if bias is None else y + f32(bias)
