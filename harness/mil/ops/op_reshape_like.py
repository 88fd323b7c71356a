"""reshape_like (iOS16): reshape x to the concatenation of ref_tensors[k].shape[begins[k]:ends[k]]
(end_masks[k]: to the end)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, ref_tensors, begins, ends, end_masks):
    shape = []
    for ref, b, e, m in zip(ref_tensors, ints(begins), ints(ends), np.atleast_1d(end_masks), strict=True):
        dims = np.shape(ref)
        shape += list(dims[b:] if bool(m) else dims[b:e])
    return np.asarray(x).reshape(shape)
