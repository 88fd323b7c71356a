"""Helpers shared by op implementations."""

from __future__ import annotations

import numpy as np


def f32(x) -> np.ndarray:
    """Float inputs computed in float32 (the interpreter rounds results to their declared type)."""
    x = np.asarray(x)
    return x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x


def ints(x) -> list[int]:
    return [int(v) for v in np.atleast_1d(np.asarray(x))]


def padding(pad_type: str, pad, spatial: tuple[int, ...], kernel: tuple[int, ...], strides, dilations,
            ctx) -> list[tuple[int, int]]:
    """(before, after) per spatial dim for MIL's pad_type: valid, custom, same, same_lower."""
    if pad_type == "valid":
        return [(0, 0)] * len(spatial)
    if pad_type == "custom":
        p = ints(pad)
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
