"""conv: N-d convolution (MIL iOS15), with groups, strides, dilations and pad types."""

from harness.mil.ops._common import f32, ints, padding
from harness.mil.ops._conv import convolve


def run(ctx, x, weight, strides=None, pad_type="valid", pad=None, dilations=None, groups=1, bias=None):
    v = f32(x)
    nd = v.ndim - 2
    kernel = tuple(weight.shape[2:])
    strides = ints(strides) if strides is not None else [1] * nd
    dilations = ints(dilations) if dilations is not None else [1] * nd
    pads = padding(str(pad_type), pad, v.shape[2:], kernel, strides, dilations, ctx)
    y = convolve(ctx, v, f32(weight), strides, pads, dilations, int(groups))
    if bias is not None:
        y = y + f32(bias).reshape([-1] + [1] * nd)
    return y
