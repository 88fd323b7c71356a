"""resize_nearest_neighbor of the last two axes to a target size, with half-pixel centers.

Source index floor((i + 0.5) * in / out), clamped: the rule of TF's ResizeNearestNeighbor with
half_pixel_centers=True, which coremltools lowers to this op (legacy TF resizing goes to
upsample_nearest_neighbor instead); torch calls it "nearest-exact".
"""

import numpy as np

from harness.mil.ops._image import nearest


def run(ctx, x, target_size_height, target_size_width):
    x = np.asarray(x)
    rows = nearest(x.shape[-2], int(target_size_height))
    cols = nearest(x.shape[-1], int(target_size_width))
    return np.take(np.take(x, rows, axis=-2), cols, axis=-1)
