"""minimum: elementwise min, broadcasting."""

import numpy as np

from harness.mil.ops._elementwise import binary

run = binary(np.minimum)
