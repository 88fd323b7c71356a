"""logical_xor of two bool tensors, broadcasting."""

import numpy as np

from harness.mil.ops._elementwise import logical

run = logical(np.logical_xor)
