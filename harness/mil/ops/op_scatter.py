"""scatter `updates` into `data` at `indices` along `axis`, by mode update/add/sub/mul/div/max/min."""

import numpy as np

from harness.mil.ops._scatter import combine, positive, validated


def run(ctx, data, indices, updates, axis=0, mode="add", validate_indices=False):
    fn = combine(ctx, str(mode))
    out = np.array(data, copy=True)
    axis = int(axis) % out.ndim
    moved = np.moveaxis(out, axis, 0)  # a view: writes land in `out`
    upd = np.moveaxis(np.asarray(updates), axis, 0)
    indices = validated("scatter", np.atleast_1d(indices), out.shape[axis], validate_indices)
    for k, i in enumerate(positive(indices, out.shape[axis])):
        moved[i] = fn(moved[i], upd[k])
    return out
