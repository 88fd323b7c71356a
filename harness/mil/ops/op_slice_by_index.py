"""slice_by_index with begin/end/stride, begin_mask/end_mask and squeeze_mask."""

import numpy as np

from harness.mil.ops._common import slice_index


def run(ctx, x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    return np.asarray(x)[slice_index(begin, end, stride, begin_mask, end_mask, squeeze_mask)]
