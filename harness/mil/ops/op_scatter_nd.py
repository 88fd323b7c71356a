"""scatter_nd: out[indices[i..., :]] (mode) updates[i...], each index row addressing a slice of data."""

import numpy as np

from harness.mil.ops._scatter import combine, validated


def run(ctx, data, indices, updates, mode="add", validate_indices=False):
    fn = combine(ctx, str(mode))
    out = np.array(data, copy=True)
    idx = np.asarray(indices).astype(np.int64)
    k = idx.shape[-1]
    idx = validated("scatter_nd", idx, out.shape[:k], validate_indices)
    rows = idx.reshape(-1, k)
    upd = np.asarray(updates).reshape((rows.shape[0],) + out.shape[k:])
    for row, value in zip(rows, upd, strict=True):
        target = tuple(int(i) + (out.shape[d] if i < 0 else 0) for d, i in enumerate(row))
        out[target] = fn(out[target], value)
    return out
