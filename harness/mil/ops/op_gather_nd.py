"""gather_nd: out[i...] = x[indices[i..., :]] (a slice when the index row is shorter than x's rank);
iOS16+ batch_dims leading axes shared by x and indices."""

import numpy as np


def run(ctx, x, indices, batch_dims=0, validate_indices=False):
    x = np.asarray(x)
    idx = np.asarray(indices).astype(np.int64)
    b = int(batch_dims)
    if b:
        out = [run(ctx, x[pos], idx[pos]) for pos in np.ndindex(*x.shape[:b])]
        return np.stack(out).reshape(x.shape[:b] + out[0].shape)
    k = idx.shape[-1]
    rows = idx.reshape(-1, k)
    rows = np.where(rows < 0, rows + np.array(x.shape[:k]), rows)
    picked = x[tuple(rows.T)] if k else np.broadcast_to(x, (rows.shape[0],) + x.shape)
    return picked.reshape(idx.shape[:-1] + x.shape[k:])
