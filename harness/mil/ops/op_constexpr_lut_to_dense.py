"""constexpr_lut_to_dense (iOS16): lut[indices] reshaped to `shape`, indices packed log2(len(lut)) bits each.

The iOS18 form (unpacked indices, per-block tables) is refused.
"""

import numpy as np

from harness.mil.ops._common import ints
from harness.mil.ops._constexpr import unpack_bits


def run(ctx, lut=None, indices=None, shape=None, vector_axis=None):
    if shape is None or vector_axis is not None:
        raise ctx.unsupported("constexpr_lut_to_dense's iOS18 form is not supported")
    table = np.asarray(lut).reshape(-1)
    dims = ints(shape)
    nbits = int(np.log2(table.size))
    return table[unpack_bits(indices, nbits, int(np.prod(dims)))].reshape(dims)
