"""scaled_dot_product_attention (iOS18): softmax(Q K^T / sqrt(E) + mask) V, a bool mask's False as -inf.

Computed as the ops coremltools lowers it to before iOS18 (`_decompose_scaled_dot_product_attention`):
Q times 1/sqrt(E) (in Q's dtype), matmul with K transposed, the mask added, softmax over the last
axis, matmul with V; under the fp16 profiles each of those intermediate tensors is rounded to fp16
and the sums accumulate as the profile says. Assumption: the fused op is bounded by its
decomposition (Apple does not document its internal precision). A row whose mask is all False
has no finite score: its softmax, and so its output, is NaN, as torch's math gives.
"""

import numpy as np

from harness.mil.ops import op_softmax
from harness.mil.ops._common import f32, round16


def run(ctx, query, key, value, attn_mask=None):
    q, k, v = f32(query), f32(key), f32(value)

    def stored(x):
        return round16(x) if ctx.stores_fp16 else x

    scale = np.float32(1 / np.sqrt(q.shape[-1]))
    if ctx.output_dtype() == "FLOAT16":  # the decomposition multiplies by an fp16 constant
        scale = np.float32(np.float16(scale))
    scores = stored(ctx.matmul(stored(q * scale), np.swapaxes(k, -1, -2)))
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        masked = mask.dtype == np.bool_
        scores = np.where(mask, scores, np.float32(-np.inf)) if masked else stored(scores + f32(mask))
    weights = stored(op_softmax.run(ctx, scores, -1))
    return ctx.matmul(weights, v)
