"""less_equal: x <= y, broadcasting, to bool."""

import numpy as np

from harness.mil.ops._elementwise import binary

run = binary(np.less_equal)
