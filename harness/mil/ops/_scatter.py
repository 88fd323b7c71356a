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


class InvalidIndices(IndexError):
    """An index `validate_indices` refuses: Core ML's runtime fails the prediction (iOS17 scatter ops)."""


def validated(op: str, indices, sizes, validate) -> np.ndarray:
    """The indices as int64; with `validate_indices` (iOS17+), each must lie in [0, size) of its axis: the iOS17
    scatter ops take negative indices as out of bounds (coremltools' defs/iOS17/scatter_gather.py), and Apple's
    tests expect the prediction to fail (`test_ios17_invalid_indices`). Without it the behaviour is undefined."""
    idx = np.asarray(indices).astype(np.int64)
    if bool(validate):
        bad = (idx < 0) | (idx >= np.asarray(sizes, np.int64))
        if bad.any():
            raise InvalidIndices(f"{op}: index {int(idx[bad][0])} is out of bounds (sizes "
                                 f"{list(np.atleast_1d(sizes))}, negative ones included) and validate_indices is set")
    return idx


def positive(indices, size: int) -> np.ndarray:
    """Negative indices count from the end (iOS15; iOS17 leaves them undefined)."""
    idx = np.asarray(indices).astype(np.int64)
    return np.where(idx < 0, idx + size, idx)
