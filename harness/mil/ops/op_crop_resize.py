"""crop_resize: bilinear crops of x [B, C, H, W] resized to target_height x target_width.

iOS15/16 take `roi` [N, 1, 4 or 5, 1, 1] (5: a leading batch index; 4: every image, output
[N, B, C, h, w]); iOS17 takes `boxes` [N, 4] and `box_indices` (output [N, C, h, w]). Each box
is sampled on its corners (ALIGN_CORNERS, STRICT_ALIGN_CORNERS: what TF's crop_and_resize
lowers to); a sample outside the image reads pad_value (iOS16+; 0 before). Other sampling
modes do not say how a box's grid is laid out and are refused.
"""

import numpy as np

from harness.mil.ops._common import f32
from harness.mil.ops._image import linear

CORNER_ORDER = {"CORNERS_HEIGHT_FIRST": (0, 1, 2, 3), "CORNERS_WIDTH_FIRST": (1, 0, 3, 2)}
CENTER_ORDER = {"CENTER_SIZE_HEIGHT_FIRST": (0, 1, 2, 3), "CENTER_SIZE_WIDTH_FIRST": (1, 0, 3, 2)}


def _corners(box: np.ndarray, mode: str, ctx) -> tuple[float, float, float, float]:
    if mode in CORNER_ORDER:
        return tuple(box[i] for i in CORNER_ORDER[mode])
    if mode in CENTER_ORDER:
        hc, wc, bh, bw = (box[i] for i in CENTER_ORDER[mode])
        return hc - bh / 2, wc - bw / 2, hc + bh / 2, wc + bw / 2
    raise ctx.unsupported(f"box_coordinate_mode {mode!r} is not supported")


def _positions(start, end, n: int, mode: str) -> np.ndarray:
    if n == 1:
        return np.array([(start + end) / 2 if mode == "ALIGN_CORNERS" else start], np.float32)
    return (start + np.arange(n, dtype=np.float32) * ((end - start) / np.float32(n - 1))).astype(np.float32)


def _crop(ctx, image, box, target_h, target_w, normalized, scale, box_mode, mode, pad_value):
    h, w = image.shape[-2:]
    h0, w0, h1, w1 = (np.float32(c) for c in _corners(box.astype(np.float32), box_mode, ctx))
    if normalized:
        h0, h1, w0, w1 = h0 * (h - 1), h1 * (h - 1), w0 * (w - 1), w1 * (w - 1)
    h0, w0, h1, w1 = (np.float32(c) * np.float32(scale) for c in (h0, w0, h1, w1))
    rows, cols = _positions(h0, h1, target_h, mode), _positions(w0, w1, target_w, mode)
    out = linear(linear(image, np.clip(rows, 0, h - 1), -2), np.clip(cols, 0, w - 1), -1)
    outside = ((rows < 0) | (rows > h - 1))[:, None] | ((cols < 0) | (cols > w - 1))[None, :]
    return np.where(outside, np.float32(pad_value), out)


def run(ctx, x, roi=None, boxes=None, box_indices=None, target_height=1, target_width=1,
        normalized_coordinates=False, spatial_scale=1.0, box_coordinate_mode="CORNERS_HEIGHT_FIRST",
        sampling_mode="DEFAULT", pad_value=0.0):
    v = f32(x)
    mode = str(sampling_mode)
    if mode not in ("ALIGN_CORNERS", "STRICT_ALIGN_CORNERS"):
        raise ctx.unsupported(f"crop_resize sampling_mode {mode!r} is not supported (only the corner-aligned ones)")
    args = (int(target_height), int(target_width), bool(normalized_coordinates), spatial_scale,
            str(box_coordinate_mode), mode, pad_value)
    if boxes is not None:  # iOS17
        b = f32(boxes).reshape(-1, 4)
        index = np.arange(len(b)) if box_indices is None else np.asarray(box_indices).astype(np.int64).reshape(-1)
        return np.stack([_crop(ctx, v[i], box, *args) for box, i in zip(b, index, strict=True)])
    r = f32(roi).reshape(np.shape(roi)[0], -1)
    if r.shape[1] == 5:
        return np.stack([_crop(ctx, v[int(row[0])], row[1:], *args)[None] for row in r])
    return np.stack([np.stack([_crop(ctx, v[i], row, *args) for i in range(v.shape[0])]) for row in r])
