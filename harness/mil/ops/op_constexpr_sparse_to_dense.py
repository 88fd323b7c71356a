"""constexpr_sparse_to_dense (iOS16): zeros of `shape`, with nonzero_data placed where the bit mask
(one bit per element, least significant first) is set. The iOS18 form is op_constexpr_sparse_to_dense_ios18."""

import numpy as np

from harness.mil.ops._common import ints
from harness.mil.ops._constexpr import unpack_bits


def run(ctx, nonzero_data, mask, shape):
    dims = ints(shape)
    data = np.asarray(nonzero_data)
    out = np.zeros(int(np.prod(dims)), data.dtype)
    out[unpack_bits(mask, 1, out.size).astype(bool)] = data.reshape(-1)
    return out.reshape(dims)
