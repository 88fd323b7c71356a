"""Helpers shared by op implementations."""

from __future__ import annotations

import numpy as np


def f32(x) -> np.ndarray:
    """Float inputs computed in float32 (the interpreter rounds results to their declared type)."""
    x = np.asarray(x)
    return x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x


def ints(x) -> list[int]:
    return [int(v) for v in np.asarray(x).reshape(-1)]


def axes_of(x: np.ndarray, axes) -> tuple[int, ...]:
    """`axes` (None: all) as sorted non-negative axes of `x`."""
    if axes is None:
        return tuple(range(np.ndim(x)))
    return tuple(sorted({a % max(np.ndim(x), 1) for a in ints(axes)}))


def along(param, ndim: int, axis: int = 1) -> np.ndarray:
    """A per-channel parameter (shape [C] or scalar) shaped to broadcast along `axis` of an ndim tensor."""
    p = f32(param)
    if p.ndim == 0 or p.size == 1:
        return p.reshape(())
    shape = [1] * ndim
    shape[axis] = p.size
    return p.reshape(shape)


def padding(pad_type: str, pad, spatial: tuple[int, ...], kernel: tuple[int, ...], strides, dilations,
            ctx) -> list[tuple[int, int]]:
    """(before, after) per spatial dim for MIL's pad_type: valid, custom, same, same_lower."""
    if pad_type == "valid":
        return [(0, 0)] * len(spatial)
    if pad_type == "custom":
        p = ints(pad) if pad is not None else [0] * (2 * len(spatial))
        return [(p[2 * i], p[2 * i + 1]) for i in range(len(spatial))]
    if pad_type in ("same", "same_lower"):
        out = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out.append((big, small) if pad_type == "same_lower" else (small, big))
        return out
    raise ctx.unsupported(f"pad_type {pad_type!r} is not supported")


def windows(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """[N, C, *D] -> [N, C, *out, *kernel] sliding windows (already padded input)."""
    nd = len(kernel)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    w = np.lib.stride_tricks.sliding_window_view(x, extent, axis=tuple(range(2, 2 + nd)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides) + tuple(
        slice(None, None, d) for d in dilations)
    return w[index]


def binary(x, y):
    x, y = f32(x), f32(y)
    return x, y


def activation(name: str, ctx, alpha=None, beta=None):
    """The named activation of MIL's recurrent ops (with their default parameters)."""
    def sigmoid(v):
        return np.float32(1) / (np.float32(1) + np.exp(-v))

    table = {
        "sigmoid": sigmoid,
        "tanh": np.tanh,
        "relu": lambda v: np.maximum(v, np.float32(0)),
        "linear": lambda v: v,
        "scaled_tanh": lambda v: np.float32(1 if alpha is None else alpha) * np.tanh(
            np.float32(1 if beta is None else beta) * v),
        "hard_sigmoid": lambda v: np.clip(np.float32(0.2 if alpha is None else alpha) * v
                                          + np.float32(0.5 if beta is None else beta), 0, 1).astype(np.float32),
    }
    table["sigmoid_hard"] = table["hard_sigmoid"]
    if name not in table:
        raise ctx.unsupported(f"activation {name!r} is not supported")
    return table[name]
