"""batch_to_space (TF's BatchToSpaceND, NCHW): the inverse of space_to_batch, then crop H and W."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, block_shape, crops):
    x = np.asarray(x)
    bh, bw = ints(block_shape)
    c0, c1, c2, c3 = ints(crops)
    nb, c, h, w = x.shape
    n = nb // (bh * bw)
    y = x.reshape(bh, bw, n, c, h, w).transpose(2, 3, 4, 0, 5, 1).reshape(n, c, h * bh, w * bw)
    return y[:, :, c0 : h * bh - c1, c2 : w * bw - c3]
