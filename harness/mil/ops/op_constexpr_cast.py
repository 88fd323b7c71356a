"""constexpr_cast (iOS16): source_val cast to output_dtype (the declared output dtype applies it)."""

import numpy as np


def run(ctx, source_val, output_dtype):
    return np.asarray(source_val)
