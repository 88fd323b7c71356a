"""Sampling shared by the image-resizing ops: 1-D sampling grids and interpolation along an axis."""

from __future__ import annotations

import numpy as np


def grid(size_in: int, size_out: int, mode: str, ctx) -> np.ndarray:
    """Sampling positions (float32, in input pixels) for resize_bilinear's sampling modes (its spec)."""
    n_in, n_out = np.float32(size_in), np.float32(size_out)
    i = np.arange(size_out, dtype=np.float32)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if size_out == 1:
            g = np.array([(n_in - 1) / 2 if mode == "ALIGN_CORNERS" else 0], np.float32)
        else:
            g = i * ((n_in - 1) / (n_out - 1))
    elif mode == "DEFAULT":
        g = i * ((n_in - n_in / n_out) / (n_out - 1)) if size_out > 1 else np.zeros(1, np.float32)
    elif mode == "OFFSET_CORNERS":
        delta = max(np.float32(1), n_in - 1) / n_out
        g = np.float32(0.5) * delta + i * delta
    elif mode == "UNALIGN_CORNERS":
        spacing = n_in / n_out
        g = i * spacing + np.float32(0.5) * spacing - np.float32(0.5)
    elif mode == "ASYMMETRIC":  # upsample_bilinear with neither align_corners nor half_pixel_centers
        g = i * (n_in / n_out)
    else:
        raise ctx.unsupported(f"sampling mode {mode!r} is not supported")
    return np.clip(g, 0, n_in - 1).astype(np.float32)


def nearest(size: int, out: int) -> np.ndarray:
    """Source indices floor((i + 0.5) * in / out), clamped: nearest neighbour with half-pixel centers."""
    scale = np.float32(size) / np.float32(out)
    index = np.floor((np.arange(out, dtype=np.float32) + np.float32(0.5)) * scale).astype(np.int64)
    return np.clip(index, 0, size - 1)


def linear(x: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of x along `axis` at in-range float positions."""
    size = x.shape[axis]
    lo = np.floor(positions).astype(np.int64)
    lo = np.clip(lo, 0, size - 1)
    hi = np.minimum(lo + 1, size - 1)
    frac = (positions - lo).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
    return a + (b - a) * frac


def resize(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear resize of the last two axes at the given grids."""
    return linear(linear(x.astype(np.float32), rows, -2), cols, -1)


def to_pixels(c: np.ndarray, size: int, coordinates_mode: str, align_corners: bool, ctx) -> np.ndarray:
    """Coordinates along one axis (resample's coordinates_mode) as float32 input-pixel positions."""
    c = c.astype(np.float32)
    n = np.float32(size)
    if coordinates_mode == "unnormalized":
        return c
    if coordinates_mode == "normalized_zero_to_one":
        c = c * 2 - 1
    elif coordinates_mode != "normalized_minus_one_to_one":
        raise ctx.unsupported(f"coordinates_mode {coordinates_mode!r} is not supported")
    if align_corners:
        return (c + 1) / 2 * (n - 1)
    return ((c + 1) * n - 1) / 2


def _reflect(p: np.ndarray, low: float, high: float) -> np.ndarray:
    span = high - low
    if span <= 0:
        return np.zeros_like(p)
    d = np.abs(p - low)
    flips = np.floor(d / span)
    extra = d - flips * span
    return np.where(flips % 2 == 0, low + extra, high - extra).astype(np.float32)


def pad_coordinates(p: np.ndarray, size: int, padding_mode: str, ctx) -> np.ndarray:
    """Move out-of-image positions for border / reflection / symmetric padding (constant: unchanged)."""
    if padding_mode == "constant":
        return p
    if padding_mode == "border":
        return np.clip(p, 0, size - 1)
    if padding_mode == "reflection":  # about the edge pixels' centres: |1, 2, 3| -> 2, 3, 2, 1, 2, 3, 2
        return np.clip(_reflect(p, 0.0, size - 1.0), 0, size - 1)
    if padding_mode == "symmetric":  # about the image's edges: |1, 2, 3| -> 3, 2, 1, 1, 2, 3, 3
        return np.clip(_reflect(p, -0.5, size - 0.5), 0, size - 1)
    raise ctx.unsupported(f"padding_mode {padding_mode!r} is not supported")


def sample(image: np.ndarray, px: np.ndarray, py: np.ndarray, sampling_mode: str, fill, ctx) -> np.ndarray:
    """image [C, H, W] sampled at pixel positions px, py [H2, W2] -> [C, H2, W2]; taps off the image read `fill`."""
    c, h, w = image.shape
    fill = np.float32(fill)

    def tap(yi, xi):
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        values = image[:, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        return np.where(inside, values, fill)

    if sampling_mode == "nearest":
        return tap(np.rint(py).astype(np.int64), np.rint(px).astype(np.int64))
    if sampling_mode != "bilinear":
        raise ctx.unsupported(f"sampling_mode {sampling_mode!r} is not supported")
    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = (px - x0).astype(np.float32), (py - y0).astype(np.float32)
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy
