"""scatter_along_axis: out[..., indices[..., i, ...], ...] (mode) updates[..., i, ...] along `axis`."""

import numpy as np

from harness.mil.ops._scatter import combine, positive, validated


def run(ctx, data, indices, updates, axis=0, mode="add", validate_indices=False):
    fn = combine(ctx, str(mode))
    out = np.array(data, copy=True)
    axis = int(axis) % out.ndim
    idx = positive(validated("scatter_along_axis", indices, out.shape[axis], validate_indices), out.shape[axis])
    upd = np.asarray(updates)
    for pos in np.ndindex(*idx.shape):
        target = pos[:axis] + (idx[pos],) + pos[axis + 1 :]
        out[target] = fn(out[target], upd[pos])
    return out
