"""slice_update (iOS18): x with the slice slice_by_index would take replaced by `update` (a KV cache's write).

begin and end may be run-time values (the position of a new token); `update` has the slice's shape.
"""

import numpy as np

from harness.mil.ops._common import slice_index


def run(ctx, x, update, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    out = np.array(x)
    index = slice_index(begin, end, stride, begin_mask, end_mask, squeeze_mask)
    value = np.asarray(update)
    if value.shape != out[index].shape:
        raise ValueError(f"update has shape {list(value.shape)}; the slice has shape {list(out[index].shape)}")
    out[index] = value
    return out
