"""cosh: cosh."""

import numpy as np

from harness.mil.ops._elementwise import unary

run = unary(np.cosh)
