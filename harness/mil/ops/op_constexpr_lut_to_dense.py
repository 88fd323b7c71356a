"""constexpr_lut_to_dense (iOS16): lut[indices] reshaped to `shape`, indices packed log2(len(lut)) bits each.

The iOS18 form (typed UINTn indices, per-block and vector tables) is op_constexpr_lut_to_dense_ios18.
"""

import numpy as np

from harness.mil.ops._common import ints
from harness.mil.ops._constexpr import unpack_bits


def run(ctx, lut, indices, shape):
    table = np.asarray(lut).reshape(-1)
    dims = ints(shape)
    nbits = int(np.log2(table.size))
    return table[unpack_bits(indices, nbits, int(np.prod(dims)))].reshape(dims)
