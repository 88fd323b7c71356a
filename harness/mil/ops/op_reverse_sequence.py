"""reverse_sequence: for each index b along batch_axis, reverse the first lengths[b] elements along seq_axis."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, lengths, seq_axis=0, batch_axis=0):
    x = np.asarray(x)
    out = np.array(x, copy=True)
    seq_axis, batch_axis = int(seq_axis) % x.ndim, int(batch_axis) % x.ndim
    for b, n in enumerate(ints(lengths)):
        index = [slice(None)] * x.ndim
        index[batch_axis] = b
        index[seq_axis] = slice(0, n)
        src = [slice(None)] * x.ndim
        src[batch_axis] = b
        src[seq_axis] = slice(n - 1, None, -1) if n > 0 else slice(0, 0)
        out[tuple(index)] = x[tuple(src)]
    return out
