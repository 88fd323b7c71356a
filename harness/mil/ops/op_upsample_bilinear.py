"""upsample_bilinear over the last two axes: output size floor(in * scale), the grid recomputed from the sizes.

align_corners samples at i * (in - 1) / (out - 1); otherwise at (i + 0.5) * in / out - 0.5
(half-pixel centers), or, iOS16 with half_pixel_centers=False, at i * in / out; clamped to the input.
"""

import numpy as np

from harness.mil.ops._common import f32
from harness.mil.ops._image import grid, resize


def run(ctx, x, scale_factor_height=1, scale_factor_width=1, align_corners=True, half_pixel_centers=None):
    v = f32(x)
    if bool(align_corners):
        mode = "STRICT_ALIGN_CORNERS"
    else:
        half = True if half_pixel_centers is None else bool(half_pixel_centers)
        mode = "UNALIGN_CORNERS" if half else "ASYMMETRIC"
    h, w = v.shape[-2:]
    out_h = int(np.floor(np.float32(h) * np.float32(scale_factor_height)))
    out_w = int(np.floor(np.float32(w) * np.float32(scale_factor_width)))
    return resize(v, grid(h, out_h, mode, ctx), grid(w, out_w, mode, ctx))
