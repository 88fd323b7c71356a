"""resize_nearest_neighbor of the last two axes to a target size, with half-pixel centers.

Source index floor((i + 0.5) * in / out), clamped: the rule of TF's ResizeNearestNeighbor with
half_pixel_centers=True, which coremltools lowers to this op (legacy TF resizing goes to
upsample_nearest_neighbor instead); torch calls it "nearest-exact".
"""

import numpy as np


def source(size: int, out: int) -> np.ndarray:
    scale = np.float32(size) / np.float32(out)
    index = np.floor((np.arange(out, dtype=np.float32) + np.float32(0.5)) * scale).astype(np.int64)
    return np.clip(index, 0, size - 1)


def run(ctx, x, target_size_height, target_size_width):
    x = np.asarray(x)
    rows = source(x.shape[-2], int(target_size_height))
    cols = source(x.shape[-1], int(target_size_width))
    return np.take(np.take(x, rows, axis=-2), cols, axis=-1)
