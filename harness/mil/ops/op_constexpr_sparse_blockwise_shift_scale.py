"""constexpr_sparse_blockwise_shift_scale (iOS18): quantized sparse weights -> (mask, dequantized nonzero values).

constexpr_blockwise_shift_scale applied where data_mask is set, each value with the scale and
offset of the block its dense position falls in. A constexpr_sparse_to_dense follows.
"""

import numpy as np

from harness.mil.ops._constexpr import densify, shift_scale


def run(ctx, data_mask, nonzero_data, scale, offset=None):
    mask = np.asarray(data_mask)
    return mask, shift_scale(densify(nonzero_data, mask), scale, offset)[mask != 0]
