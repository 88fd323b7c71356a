"""MIL operators: one per file, registered here explicitly.

Each `run(ctx, **inputs)` computes in float32 (or integers) and returns the op's outputs;
the interpreter rounds each output to its declared dtype under the profile. Accumulating
ops sum through `ctx.matmul` / `ctx.sum`, which honour fp16 accumulation.
"""

from collections.abc import Callable

from harness.mil.ops import (
    op_add,
    op_avg_pool,
    op_cast,
    op_clip,
    op_concat,
    op_conv,
    op_expand_dims,
    op_fill,
    op_gather,
    op_gelu,
    op_layer_norm,
    op_less,
    op_linear,
    op_matmul,
    op_mul,
    op_real_div,
    op_reduce_mean,
    op_reduce_sum,
    op_relu,
    op_reverse,
    op_scatter,
    op_shape,
    op_sigmoid,
    op_slice_by_index,
    op_softmax,
    op_squeeze,
    op_sub,
    op_tanh,
    op_transpose,
    op_upsample_nearest_neighbor,
    op_while_loop,
)

OPS: dict[str, Callable] = {
    "add": op_add.run,
    "avg_pool": op_avg_pool.run,
    "cast": op_cast.run,
    "clip": op_clip.run,
    "concat": op_concat.run,
    "conv": op_conv.run,
    "expand_dims": op_expand_dims.run,
    "fill": op_fill.run,
    "gather": op_gather.run,
    "gelu": op_gelu.run,
    "layer_norm": op_layer_norm.run,
    "less": op_less.run,
    "linear": op_linear.run,
    "matmul": op_matmul.run,
    "mul": op_mul.run,
    "real_div": op_real_div.run,
    "reduce_mean": op_reduce_mean.run,
    "reduce_sum": op_reduce_sum.run,
    "relu": op_relu.run,
    "reverse": op_reverse.run,
    "scatter": op_scatter.run,
    "shape": op_shape.run,
    "sigmoid": op_sigmoid.run,
    "slice_by_index": op_slice_by_index.run,
    "softmax": op_softmax.run,
    "squeeze": op_squeeze.run,
    "sub": op_sub.run,
    "tanh": op_tanh.run,
    "transpose": op_transpose.run,
    "upsample_nearest_neighbor": op_upsample_nearest_neighbor.run,
    "while_loop": op_while_loop.run,
}

#: Inputs that take a list of values (every other input takes one).
VARIADIC: dict[str, tuple[str, ...]] = {"concat": ("values",), "while_loop": ("loop_vars",)}
