"""constexpr_lut_to_sparse (iOS18): palettized sparse weights -> (mask, looked-up nonzero values).

The table lookup of constexpr_lut_to_dense applied where indices_mask is set; a vector table
repeats the mask VECTOR_SIZE times along `vector_axis`. A constexpr_sparse_to_dense follows.
"""

import numpy as np

from harness.mil.ops._constexpr import densify, lookup


def run(ctx, indices_mask, indices_nonzero_data, lut, vector_axis=None):
    mask = np.asarray(indices_mask)
    dense = lookup(densify(indices_nonzero_data, mask), lut, vector_axis)
    if vector_axis is not None:
        mask = np.repeat(mask, np.asarray(lut).shape[-1], axis=int(vector_axis) % mask.ndim)
    return mask, dense[mask != 0]
