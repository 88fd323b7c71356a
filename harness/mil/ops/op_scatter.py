"""scatter `updates` into `data` at `indices` along `axis`, with modes update/add/sub/mul/div/max/min."""

import numpy as np

MODES = {
    "update": lambda old, new: new,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "max": np.maximum, "min": np.minimum,
}


def run(ctx, data, indices, updates, axis=0, mode="add", validate_indices=False):
    if mode not in MODES:
        raise ctx.unsupported(f"scatter mode {mode!r} is not supported")
    out = np.array(data, copy=True)
    axis = int(axis) % out.ndim
    moved = np.moveaxis(out, axis, 0)  # a view: writes land in `out`
    upd = np.moveaxis(np.asarray(updates), axis, 0)
    for k, i in enumerate(np.atleast_1d(np.asarray(indices)).astype(int)):
        moved[i] = MODES[mode](moved[i], upd[k])
    return out
