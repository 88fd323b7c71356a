"""range_1d: start, start + step, ... up to end (exclusive), from runtime scalars."""

import numpy as np


def run(ctx, end, start, step):
    start, end, step = (np.asarray(v).reshape(()) for v in (start, end, step))
    return np.arange(start, end, step, dtype=np.result_type(start, end, step))
