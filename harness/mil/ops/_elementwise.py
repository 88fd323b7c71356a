"""Elementwise ops: one numpy function each, wrapped by the thin `op_<name>.py` files.

Floats compute in float32 (the interpreter rounds each result to its declared dtype);
int32 and bool inputs keep their dtype where the op allows them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.mil.ops._common import f32


def unary(fn: Callable) -> Callable:
    def run(ctx, x):
        return fn(f32(x))

    return run


def binary(fn: Callable) -> Callable:
    def run(ctx, x, y):
        return fn(f32(x), f32(y))

    return run


def erf(v: np.ndarray) -> np.ndarray:
    """numpy has no erf; torch's float32 erf (imported here: the interpreter loads without torch)."""
    import torch

    return torch.special.erf(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))).numpy()


def floor_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x / y rounded towards negative infinity (integers stay integers)."""
    if np.issubdtype(np.result_type(x, y), np.integer):
        return np.floor_divide(x, y)
    return np.floor(x / y)


def mod(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Python's %: the result takes the sign of y."""
    return np.mod(x, y)


def real_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.true_divide(x, y)


def power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if np.issubdtype(np.result_type(x, y), np.integer):
        return np.power(x.astype(np.float64), y.astype(np.float64))
    return np.power(x, y)


def logical(fn: Callable) -> Callable:
    def run(ctx, x, y):
        return fn(np.asarray(x, dtype=bool), np.asarray(y, dtype=bool))

    return run
