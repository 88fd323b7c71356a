"""constexpr_blockwise_shift_scale (iOS18): scale * (data - offset), one scale (and offset) per block.

Block sizes are data.shape / scale.shape along every axis (int8 and int4 weights, per channel or
per block). With an fp16 scale, the difference is rounded to fp16 first, as coremltools' own
`decompress` computes it (assumption: the spec gives the formula, not the precision of its steps).
"""

from harness.mil.ops._constexpr import shift_scale


def run(ctx, data, scale, offset=None):
    return shift_scale(data, scale, offset)
