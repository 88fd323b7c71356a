"""constexpr_lut_to_dense (iOS18): per-block lookup tables of scalars or vectors, indices typed UINTn.

lut is [*blocks, 2^nbits, VECTOR_SIZE]: a block along axis i covers indices.shape[i] / lut.shape[i]
consecutive positions (per-grouped-channel palettes); a vector entry fills VECTOR_SIZE consecutive
positions along `vector_axis`. The iOS16 form (packed uint8 indices, `shape`) is op_constexpr_lut_to_dense.
"""

from harness.mil.ops._constexpr import lookup


def run(ctx, indices, lut, vector_axis=None):
    return lookup(indices, lut, vector_axis)
