"""Scatter modes shared by scatter, scatter_along_axis and scatter_nd; updates apply in index order."""

import numpy as np

MODES = {
    "update": lambda old, new: new,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "max": np.maximum, "min": np.minimum,
}


def combine(ctx, mode: str):
    if mode not in MODES:
        raise ctx.unsupported(f"scatter mode {mode!r} is not supported")
    return MODES[mode]


def positive(indices, size: int) -> np.ndarray:
    """Negative indices count from the end (iOS15; iOS17 leaves them undefined)."""
    idx = np.asarray(indices).astype(np.int64)
    return np.where(idx < 0, idx + size, idx)
