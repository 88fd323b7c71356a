"""clip: min(max(x, alpha), beta); an infinity clips to the bound."""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, x, alpha, beta):
    return np.clip(f32(x), f32(alpha), f32(beta))
