"""quantize (iOS17): clip(round(input / scale) + zero_point) to int8 or uint8, scale and zero_point
scalars or vectors along `axis`.

Assumptions (the spec says "round" only): ties round to even and the quotient is computed in
float32, as coremltools' own value inference (`quantize_by_scale_and_zp`, numpy's `around`) does.
"""

import numpy as np

from harness.mil.ops._common import along, f32

RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def run(ctx, input, scale, output_dtype, zero_point=None, axis=None):
    x = f32(input)
    if str(output_dtype) not in RANGES:
        raise ctx.unsupported(f"quantize to {output_dtype!r} is not supported")
    where = 0 if axis is None else int(axis) % x.ndim
    q = np.round(x / along(scale, x.ndim, where))
    if zero_point is not None:
        q = q + along(np.asarray(zero_point).astype(np.float32), x.ndim, where)
    low, high = RANGES[str(output_dtype)]
    return np.clip(q, low, high).astype(np.int16)
