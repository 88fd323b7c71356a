"""constexpr_sparse_to_dense (iOS18): zeros of the mask's shape, nonzero_data placed in order where the
UINT1 mask is set. The iOS16 form (a flat packed mask and `shape`) is op_constexpr_sparse_to_dense."""

from harness.mil.ops._constexpr import densify


def run(ctx, nonzero_data, mask):
    return densify(nonzero_data, mask)
