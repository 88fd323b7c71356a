"""crop: drop crop_height[0] / [1] rows from the top / bottom and crop_width[0] / [1] columns from left / right."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, crop_height, crop_width):
    x = np.asarray(x)
    top, bottom = ints(crop_height)
    left, right = ints(crop_width)
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]
