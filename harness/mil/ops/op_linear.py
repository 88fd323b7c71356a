"""linear: x @ weight.T + bias."""

from harness.mil.ops._common import f32


def run(ctx, x, weight, bias=None):
    y = ctx.matmul(f32(x), f32(weight).T).astype("float32")
    return y if bias is None else y + f32(bias)
