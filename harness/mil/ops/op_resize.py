"""resize (iOS17): the last `resized_dims` axes of x resized to the last entries of `shape` (0 keeps x's size),
linearly by resize_bilinear's sampling modes or by nearest neighbour.

Assumptions (the spec defines the modes for two axes): LINEAR interpolates separably along every
resized axis, each with the sampling mode's grid, which is resize_bilinear for two axes and
multilinear for more. NEAREST_NEIGHBOR with sampling_mode DEFAULT picks source floor((i + 0.5) * in / out),
resize_nearest_neighbor's rule: what Apple's test expects and what coremltools' TF frontend lowers
resize_nearest_neighbor to when a size is dynamic. Nearest neighbour with another sampling mode, and
LINEAR on integers, are undefined there and refused.
"""

import numpy as np

from harness.mil.ops._common import f32, ints
from harness.mil.ops._image import grid, linear, nearest


def run(ctx, x, shape, resized_dims, interpolation_mode="LINEAR", sampling_mode="DEFAULT"):
    x = np.asarray(x)
    target, n = ints(shape), int(resized_dims)
    if not 0 <= n <= len(target) <= x.ndim:
        raise ValueError(f"resized_dims {n} and shape {target} do not fit x of rank {x.ndim}")
    mode, sampling = str(interpolation_mode), str(sampling_mode)
    axes = range(x.ndim - n, x.ndim)
    sizes = [t or x.shape[a] for a, t in zip(axes, target[len(target) - n:], strict=True)]
    if mode == "NEAREST_NEIGHBOR":
        if sampling != "DEFAULT":
            raise ctx.unsupported(f"resize NEAREST_NEIGHBOR with sampling_mode {sampling!r}: the spec does not say "
                                  "which source it picks")
        for axis, size in zip(axes, sizes, strict=True):
            x = np.take(x, nearest(x.shape[axis], size), axis=axis)
        return x
    if mode != "LINEAR":
        raise ctx.unsupported(f"resize interpolation_mode {mode!r} is not supported")
    if not np.issubdtype(x.dtype, np.floating):
        raise ctx.unsupported("resize LINEAR of integers: the spec does not say how the result is rounded")
    v = f32(x)
    for axis, size in zip(axes, sizes, strict=True):
        v = linear(v, grid(v.shape[axis], size, sampling, ctx), axis)
    return v
