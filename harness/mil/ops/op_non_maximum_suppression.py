"""non_maximum_suppression: greedy NMS per batch on center-size boxes (x, y, width, height).

A box scores its best class; boxes scoring below score_threshold are dropped; in descending
score order a box is kept unless its IoU with a kept box exceeds iou_threshold (with
per_class_suppression, only boxes of the same best class suppress each other). Outputs are
padded to max_boxes with zeros (boxes, scores) and -1 (indices); when nothing survives, the
best-scoring box is returned alone (coremltools' reference implementation of the op).
iOS17: boxes [n, 4, B] and scores [n, K, B], no score_threshold, no count output.
"""

import numpy as np

from harness.mil.ops._common import f32


def iou(boxes: np.ndarray) -> np.ndarray:
    cx, cy, w, h = boxes.T
    x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    iw = np.maximum(0, np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None]))
    ih = np.maximum(0, np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None]))
    inter = iw * ih
    return inter / ((w * h)[:, None] + (w * h)[None] - inter)


def select(boxes, scores, iou_threshold, score_threshold, max_boxes, per_class) -> list[int]:
    best = scores.max(axis=-1)
    cls = scores.argmax(axis=-1)
    overlap = iou(boxes)
    kept: list[int] = []
    for i in np.argsort(-best, kind="stable"):
        if score_threshold is not None and best[i] < score_threshold:
            continue
        if any(overlap[i, j] > iou_threshold and (not per_class or cls[i] == cls[j]) for j in kept):
            continue
        kept.append(int(i))
    if not kept:
        kept = [int(np.argmax(best))]
    return kept[:max_boxes]


def run(ctx, boxes, scores, iou_threshold, max_boxes, score_threshold=None, per_class_suppression=False):
    b, s = f32(boxes), f32(scores)
    ios17 = score_threshold is None
    if ios17:  # [n, 4, B], [n, K, B]
        b, s = np.swapaxes(b, 1, 2), np.swapaxes(s, 1, 2)
    n, m = b.shape[0], int(max_boxes)
    out_boxes = np.zeros((n, m, 4), np.float32)
    out_scores = np.zeros((n, m, s.shape[-1]), np.float32)
    out_index = np.full((n, m), -1, np.int32)
    counts = np.zeros(n, np.int32)
    for k in range(n):
        ids = select(b[k], s[k], np.float32(iou_threshold), None if ios17 else np.float32(score_threshold), m,
                     bool(per_class_suppression))
        out_boxes[k, : len(ids)] = b[k, ids]
        out_scores[k, : len(ids)] = s[k, ids]
        out_index[k, : len(ids)] = ids
        counts[k] = len(ids)
    if ios17:
        return np.swapaxes(out_boxes, 1, 2), np.swapaxes(out_scores, 1, 2), out_index
    return out_boxes, out_scores, out_index, counts
