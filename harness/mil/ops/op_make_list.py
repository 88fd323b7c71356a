"""make_list: an empty list of init_length slots (a fixed length unless dynamic_length)."""

import numpy as np

from harness.mil.ops._list import MilList


def run(ctx, elem_shape, init_length=1, dynamic_length=True, dtype="fp32"):
    dims = [d for d in elem_shape]
    shape = tuple(int(d) for d in dims) if all(np.issubdtype(np.asarray(d).dtype, np.integer) for d in dims) else None
    return MilList((None,) * int(init_length), shape, str(dtype), bool(dynamic_length))
