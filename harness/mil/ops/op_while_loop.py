"""while_loop: run the body block while the cond block is true; nested blocks see outer values."""

import numpy as np

MAX_ITERATIONS = 1_000_000


def run(ctx, loop_vars):
    cond, body = ctx.op.blocks
    values = list(loop_vars)
    for _ in range(MAX_ITERATIONS):
        (keep_going,) = ctx.run_block(cond, values)
        if not bool(np.asarray(keep_going).reshape(-1)[0]):
            return tuple(values)
        values = ctx.run_block(body, values)
    raise ctx.unsupported(f"while_loop ran past {MAX_ITERATIONS} iterations")
