"""space_to_batch (TF's SpaceToBatchND, NCHW): pad H and W, then block (i, j) of image n goes to batch
(i * block_w + j) * N + n."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, block_shape, paddings):
    x = np.asarray(x)
    bh, bw = ints(block_shape)
    p = ints(paddings)
    x = np.pad(x, [(0, 0), (0, 0), (p[0], p[1]), (p[2], p[3])])
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // bh, bh, w // bw, bw).transpose(3, 5, 0, 1, 2, 4)
    return y.reshape(bh * bw * n, c, h // bh, w // bw)
