"""constexpr_sparse_to_dense (iOS16): zeros of `shape`, with nonzero_data placed where the bit mask
(one bit per element, least significant first) is set. The iOS18 form is refused."""

import numpy as np

from harness.mil.ops._common import ints
from harness.mil.ops._constexpr import unpack_bits


def run(ctx, nonzero_data, mask, shape=None):
    if shape is None:
        raise ctx.unsupported("constexpr_sparse_to_dense's iOS18 form is not supported")
    dims = ints(shape)
    data = np.asarray(nonzero_data)
    out = np.zeros(int(np.prod(dims)), data.dtype)
    out[unpack_bits(mask, 1, out.size).astype(bool)] = data.reshape(-1)
    return out.reshape(dims)
