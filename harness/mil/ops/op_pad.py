"""pad the last len(pad) / 2 axes: constant (constant_val), reflect (no edge repeat) or replicate (edge)."""

import numpy as np

from harness.mil.ops._common import ints


def run(ctx, x, pad, mode="constant", constant_val=0.0):
    x = np.asarray(x)
    p = ints(pad)
    widths = [(0, 0)] * (x.ndim - len(p) // 2) + [(p[2 * i], p[2 * i + 1]) for i in range(len(p) // 2)]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(constant_val).astype(x.dtype))
    if mode == "reflect":
        return np.pad(x, widths, mode="reflect")
    if mode == "replicate":
        return np.pad(x, widths, mode="edge")
    raise ctx.unsupported(f"pad mode {mode!r} is not supported")
