"""resize_bilinear of the last two axes to a target size, by the spec's sampling modes."""

from harness.mil.ops._common import f32
from harness.mil.ops._image import grid, resize


def run(ctx, x, target_size_height=1, target_size_width=1, sampling_mode="DEFAULT"):
    v = f32(x)
    h, w = v.shape[-2:]
    mode = str(sampling_mode)
    return resize(v, grid(h, int(target_size_height), mode, ctx), grid(w, int(target_size_width), mode, ctx))
