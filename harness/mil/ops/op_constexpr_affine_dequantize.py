"""constexpr_affine_dequantize (iOS16): (quantized_data - zero_point) * scale, the vectors laid along `axis`."""

import numpy as np

from harness.mil.ops._common import along


def run(ctx, quantized_data, zero_point, scale, axis):
    q = np.asarray(quantized_data)
    axis = int(axis) % q.ndim
    zp = along(np.asarray(zero_point).astype(np.float32), q.ndim, axis)
    return (q.astype(np.float32) - zp) * along(np.asarray(scale).astype(np.float32), q.ndim, axis)
