"""sub: x - y, broadcasting."""

import numpy as np

from harness.mil.ops._elementwise import binary

run = binary(np.subtract)
