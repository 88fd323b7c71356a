"""sign: sign: -1, 0 or 1 (int32 too)."""

import numpy as np

from harness.mil.ops._elementwise import unary

run = unary(np.sign)
