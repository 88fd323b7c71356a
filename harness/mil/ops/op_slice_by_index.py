"""slice_by_index with begin/end/stride, begin_mask/end_mask and squeeze_mask."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    x = np.asarray(x)
    rank = len(ints(begin))
    stride = ints(stride) if stride is not None else [1] * rank
    begin_mask = [bool(b) for b in np.atleast_1d(begin_mask)] if begin_mask is not None else [False] * rank
    end_mask = [bool(b) for b in np.atleast_1d(end_mask)] if end_mask is not None else [False] * rank
    squeeze = [bool(b) for b in np.atleast_1d(squeeze_mask)] if squeeze_mask is not None else [False] * rank
    index = []
    for axis, (b, e, s) in enumerate(zip(ints(begin), ints(end), stride, strict=True)):
        if squeeze[axis]:
            index.append(b)
            continue
        index.append(slice(None if begin_mask[axis] else b, None if end_mask[axis] else e, s))
    return x[tuple(index)]
