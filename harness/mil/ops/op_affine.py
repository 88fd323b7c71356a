"""affine: out[b, c, y, x] = x_in[b, c] sampled at (a0 x + a1 y + a2, b0 x + b1 y + b2), with (x, y) the
output position in [-1, 1] (torch's affine_grid followed by grid_sample, which coremltools lowers here)."""

import numpy as np

from harness.mil.ops._common import f32
from harness.mil.ops._image import pad_coordinates, sample, to_pixels


def _axis(n: int, align_corners: bool) -> np.ndarray:
    i = np.arange(n, dtype=np.float32)
    if align_corners:
        return (i * 2 / np.float32(max(n - 1, 1)) - 1).astype(np.float32)
    return ((i * 2 + 1) / np.float32(n) - 1).astype(np.float32)


def run(ctx, x, transform_matrix, output_height, output_width, sampling_mode="bilinear", padding_mode="constant",
        padding_value=0.0, coordinates_mode="normalized_minus_one_to_one", align_corners=True):
    v = f32(x)
    h, w = v.shape[-2:]
    m = f32(transform_matrix).reshape(-1, 6)
    gy, gx = np.meshgrid(_axis(int(output_height), bool(align_corners)), _axis(int(output_width), bool(align_corners)),
                         indexing="ij")
    out = []
    for b in range(v.shape[0]):
        a0, a1, a2, b0, b1, b2 = m[b if m.shape[0] > 1 else 0]
        cx, cy = a0 * gx + a1 * gy + a2, b0 * gx + b1 * gy + b2
        px = pad_coordinates(to_pixels(cx, w, str(coordinates_mode), bool(align_corners), ctx), w, str(padding_mode),
                             ctx)
        py = pad_coordinates(to_pixels(cy, h, str(coordinates_mode), bool(align_corners), ctx), h, str(padding_mode),
                             ctx)
        out.append(sample(v[b], px, py, str(sampling_mode), padding_value, ctx))
    return np.stack(out)
