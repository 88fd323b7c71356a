"""concat `values` along `axis`."""

import numpy as np


def run(ctx, values, axis, interleave=False):
    if bool(interleave):
        raise ctx.unsupported("concat with interleave=True is not supported")
    arrays = [np.atleast_1d(np.asarray(v)) for v in values]
    dtype = np.result_type(*arrays)
    return np.concatenate([a.astype(dtype) for a in arrays], axis=int(axis))
