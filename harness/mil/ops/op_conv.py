"""conv: N-d convolution (MIL iOS15), with groups, strides, dilations and pad types.

`plan` prepares the weights once when the weight is a constant; `run` does it per call.
"""

from harness.mil.ops._common import f32, ints, padding
from harness.mil.ops._conv import Convolution


def plan(ctx, weight=None, strides=None, pad_type="valid", pad=None, dilations=None, groups=1, bias=None):
    """The conv of a constant weight, bias and attributes, as a function of x alone (None: not planned)."""
    if weight is None:
        return None
    nd = weight.ndim - 2
    strides = ints(strides) if strides is not None else [1] * nd
    dilations = ints(dilations) if dilations is not None else [1] * nd
    conv = Convolution(ctx, weight, strides, dilations, int(groups))
    shift = None if bias is None else f32(bias).reshape(-1)
    kernel = conv.kernel
    pad_type = str(pad_type)
    pads_by_shape: dict = {}

    def run_planned(x, then=None):
        """`then`: the next op's in-place form, applied as the result is made (`Convolution`)."""
        v = f32(x)
        pads = pads_by_shape.get(v.shape[2:])
        if pads is None:
            pads = pads_by_shape[v.shape[2:]] = padding(pad_type, pad, v.shape[2:], kernel, strides, dilations, ctx)
        return conv(v, pads, shift, ctx.rounds_output, then)

    run_planned.takes_then = True
    return run_planned


def run(ctx, x, weight, strides=None, pad_type="valid", pad=None, dilations=None, groups=1, bias=None):
    return plan(ctx, weight, strides, pad_type, pad, dilations, groups, bias)(x)
