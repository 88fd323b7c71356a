"""constexpr_cast (iOS16, iOS18): source_val cast to output_dtype (the declared output dtype applies it).

iOS18 passes source_val and output_dtype as inputs instead of attributes; the program reader
binds both the same way, so one implementation serves both targets.
"""

import numpy as np


def run(ctx, source_val, output_dtype):
    return np.asarray(source_val)
