"""resample: sample x [B, C, H, W] at coordinates [B, H2, W2, (x, y)], bilinear or nearest (torch's grid_sample).

Nearest rounds halves to even; constant padding reads padding_value for every tap off the image;
reflection mirrors about the edge pixels' centres, symmetric about the image's edges.
"""

import numpy as np

from harness.mil.ops._common import f32
from harness.mil.ops._image import pad_coordinates, sample, to_pixels


def run(ctx, x, coordinates, sampling_mode="bilinear", padding_mode="constant", padding_value=0.0,
        coordinates_mode="normalized_minus_one_to_one", align_corners=False):
    v = f32(x)
    h, w = v.shape[-2:]
    coords = np.asarray(coordinates).astype(np.float32)
    out = []
    for b in range(v.shape[0]):
        px = to_pixels(coords[b, ..., 0], w, str(coordinates_mode), bool(align_corners), ctx)
        py = to_pixels(coords[b, ..., 1], h, str(coordinates_mode), bool(align_corners), ctx)
        px, py = pad_coordinates(px, w, str(padding_mode), ctx), pad_coordinates(py, h, str(padding_mode), ctx)
        out.append(sample(v[b], px, py, str(sampling_mode), padding_value, ctx))
    return np.stack(out)
