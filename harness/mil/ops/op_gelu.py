"""gelu: modes EXACT, TANH_APPROXIMATION, SIGMOID_APPROXIMATION."""

import numpy as np

from harness.mil.ops._common import f32
from harness.mil.ops._elementwise import erf


def run(ctx, x, mode="EXACT"):
    v = f32(x)
    if mode == "EXACT":
        return np.float32(0.5) * v * (np.float32(1) + erf(v / np.float32(np.sqrt(2))))
    if mode == "TANH_APPROXIMATION":
        inner = np.float32(np.sqrt(2 / np.pi)) * (v + np.float32(0.044715) * v**3)
        return np.float32(0.5) * v * (np.float32(1) + np.tanh(inner))
    if mode == "SIGMOID_APPROXIMATION":
        return v / (np.float32(1) + np.exp(np.float32(-1.702) * v))
    raise ctx.unsupported(f"gelu mode {mode!r} is not supported")
