"""cast to `dtype`; under the fp32 profile a cast to fp16 keeps float32 (the interpreter's storage rule)."""

import numpy as np

DTYPES = {"fp16": np.float16, "fp32": np.float32, "fp64": np.float64, "int32": np.int32,
          "int64": np.int64, "int16": np.int16, "int8": np.int8, "uint8": np.uint8,
          "uint16": np.uint16, "bool": np.bool_}


def run(ctx, x, dtype):
    if dtype not in DTYPES:
        raise ctx.unsupported(f"cast to {dtype!r} is not supported")
    if dtype == "fp16" and not ctx.profile.store_fp16:
        return np.asarray(x).astype(np.float32)
    return np.asarray(x).astype(DTYPES[dtype])
