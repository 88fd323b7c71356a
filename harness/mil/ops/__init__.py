"""MIL operators: one per file, registered here explicitly.

Each `run(ctx, **inputs)` computes in float32 (or integers) and returns the op's outputs;
the interpreter rounds each output to its declared dtype under the profile. Accumulating
ops sum through `ctx.matmul` / `ctx.sum`, which honour fp16 accumulation. Families share
helpers (`_elementwise`, `_pool`, `_conv`, `_image`, `_recurrent`, `_scatter`, `_list`,
`_constexpr`).

Registries are per deployment target (`IOS15` .. `IOS18`), as coremltools' `defs/iOS15..18` are: a
program runs with `registry(program.opset)`, the union up to its target, where an op whose
meaning changed at a target (`constexpr_lut_to_dense` at iOS18) is that target's form.
`UNSUPPORTED` names the op types of coremltools' registry left out on purpose, and why.
"""

from collections.abc import Callable

from harness.mil.ops import (
    op_abs,
    op_acos,
    op_add,
    op_affine,
    op_argsort,
    op_asin,
    op_atan,
    op_atanh,
    op_avg_pool,
    op_band_part,
    op_batch_norm,
    op_batch_to_space,
    op_cast,
    op_ceil,
    op_clamped_relu,
    op_classify,
    op_clip,
    op_concat,
    op_cond,
    op_constexpr_affine_dequantize,
    op_constexpr_blockwise_shift_scale,
    op_constexpr_cast,
    op_constexpr_lut_to_dense,
    op_constexpr_lut_to_dense_ios18,
    op_constexpr_lut_to_sparse,
    op_constexpr_sparse_blockwise_shift_scale,
    op_constexpr_sparse_to_dense,
    op_constexpr_sparse_to_dense_ios18,
    op_conv,
    op_conv_transpose,
    op_cos,
    op_cosh,
    op_crop,
    op_crop_resize,
    op_cumsum,
    op_depth_to_space,
    op_dequantize,
    op_einsum,
    op_elu,
    op_equal,
    op_erf,
    op_exp,
    op_exp2,
    op_expand_dims,
    op_fill,
    op_fill_like,
    op_flatten2d,
    op_floor,
    op_floor_div,
    op_gather,
    op_gather_along_axis,
    op_gather_nd,
    op_gelu,
    op_greater,
    op_greater_equal,
    op_gru,
    op_identity,
    op_instance_norm,
    op_inverse,
    op_l2_norm,
    op_l2_pool,
    op_layer_norm,
    op_leaky_relu,
    op_less,
    op_less_equal,
    op_linear,
    op_linear_activation,
    op_list_gather,
    op_list_length,
    op_list_read,
    op_list_scatter,
    op_list_write,
    op_local_response_norm,
    op_log,
    op_logical_and,
    op_logical_not,
    op_logical_or,
    op_logical_xor,
    op_lstm,
    op_make_list,
    op_matmul,
    op_max_pool,
    op_maximum,
    op_minimum,
    op_mod,
    op_mul,
    op_non_maximum_suppression,
    op_non_zero,
    op_not_equal,
    op_one_hot,
    op_pad,
    op_pixel_shuffle,
    op_pixel_unshuffle,
    op_pow,
    op_prelu,
    op_quantize,
    op_range_1d,
    op_read_state,
    op_real_div,
    op_reduce_argmax,
    op_reduce_argmin,
    op_reduce_l1_norm,
    op_reduce_l2_norm,
    op_reduce_log_sum,
    op_reduce_log_sum_exp,
    op_reduce_max,
    op_reduce_mean,
    op_reduce_min,
    op_reduce_prod,
    op_reduce_sum,
    op_reduce_sum_square,
    op_relu,
    op_relu6,
    op_resample,
    op_reshape,
    op_reshape_like,
    op_resize,
    op_resize_bilinear,
    op_resize_nearest_neighbor,
    op_reverse,
    op_reverse_sequence,
    op_rnn,
    op_round,
    op_rsqrt,
    op_scaled_dot_product_attention,
    op_scaled_tanh,
    op_scatter,
    op_scatter_along_axis,
    op_scatter_nd,
    op_select,
    op_shape,
    op_sigmoid,
    op_sigmoid_hard,
    op_sign,
    op_silu,
    op_sin,
    op_sinh,
    op_slice_by_index,
    op_slice_by_size,
    op_slice_update,
    op_sliding_windows,
    op_softmax,
    op_softplus,
    op_softplus_parametric,
    op_softsign,
    op_space_to_batch,
    op_space_to_depth,
    op_split,
    op_sqrt,
    op_square,
    op_squeeze,
    op_stack,
    op_sub,
    op_tan,
    op_tanh,
    op_threshold,
    op_thresholded_relu,
    op_tile,
    op_topk,
    op_transpose,
    op_upsample_bilinear,
    op_upsample_nearest_neighbor,
    op_while_loop,
    op_write_state,
)

#: The op types of iOS15 (coremltools' `defs/iOS15`), the first ML program opset.
IOS15: dict[str, Callable] = {
    "abs": op_abs.run,
    "acos": op_acos.run,
    "add": op_add.run,
    "affine": op_affine.run,
    "argsort": op_argsort.run,
    "asin": op_asin.run,
    "atan": op_atan.run,
    "atanh": op_atanh.run,
    "avg_pool": op_avg_pool.run,
    "band_part": op_band_part.run,
    "batch_norm": op_batch_norm.run,
    "batch_to_space": op_batch_to_space.run,
    "cast": op_cast.run,
    "ceil": op_ceil.run,
    "clamped_relu": op_clamped_relu.run,
    "classify": op_classify.run,
    "clip": op_clip.run,
    "concat": op_concat.run,
    "cond": op_cond.run,
    "conv": op_conv.run,
    "conv_transpose": op_conv_transpose.run,
    "cos": op_cos.run,
    "cosh": op_cosh.run,
    "crop": op_crop.run,
    "crop_resize": op_crop_resize.run,
    "cumsum": op_cumsum.run,
    "depth_to_space": op_depth_to_space.run,
    "einsum": op_einsum.run,
    "elu": op_elu.run,
    "equal": op_equal.run,
    "erf": op_erf.run,
    "exp": op_exp.run,
    "exp2": op_exp2.run,
    "expand_dims": op_expand_dims.run,
    "fill": op_fill.run,
    "flatten2d": op_flatten2d.run,
    "floor": op_floor.run,
    "floor_div": op_floor_div.run,
    "gather": op_gather.run,
    "gather_along_axis": op_gather_along_axis.run,
    "gather_nd": op_gather_nd.run,
    "gelu": op_gelu.run,
    "greater": op_greater.run,
    "greater_equal": op_greater_equal.run,
    "gru": op_gru.run,
    "identity": op_identity.run,
    "instance_norm": op_instance_norm.run,
    "inverse": op_inverse.run,
    "l2_norm": op_l2_norm.run,
    "l2_pool": op_l2_pool.run,
    "layer_norm": op_layer_norm.run,
    "leaky_relu": op_leaky_relu.run,
    "less": op_less.run,
    "less_equal": op_less_equal.run,
    "linear": op_linear.run,
    "linear_activation": op_linear_activation.run,
    "list_gather": op_list_gather.run,
    "list_length": op_list_length.run,
    "list_read": op_list_read.run,
    "list_scatter": op_list_scatter.run,
    "list_write": op_list_write.run,
    "local_response_norm": op_local_response_norm.run,
    "log": op_log.run,
    "logical_and": op_logical_and.run,
    "logical_not": op_logical_not.run,
    "logical_or": op_logical_or.run,
    "logical_xor": op_logical_xor.run,
    "lstm": op_lstm.run,
    "make_list": op_make_list.run,
    "matmul": op_matmul.run,
    "max_pool": op_max_pool.run,
    "maximum": op_maximum.run,
    "minimum": op_minimum.run,
    "mod": op_mod.run,
    "mul": op_mul.run,
    "non_maximum_suppression": op_non_maximum_suppression.run,
    "non_zero": op_non_zero.run,
    "not_equal": op_not_equal.run,
    "one_hot": op_one_hot.run,
    "pad": op_pad.run,
    "pixel_shuffle": op_pixel_shuffle.run,
    "pow": op_pow.run,
    "prelu": op_prelu.run,
    "range_1d": op_range_1d.run,
    "real_div": op_real_div.run,
    "reduce_argmax": op_reduce_argmax.run,
    "reduce_argmin": op_reduce_argmin.run,
    "reduce_l1_norm": op_reduce_l1_norm.run,
    "reduce_l2_norm": op_reduce_l2_norm.run,
    "reduce_log_sum": op_reduce_log_sum.run,
    "reduce_log_sum_exp": op_reduce_log_sum_exp.run,
    "reduce_max": op_reduce_max.run,
    "reduce_mean": op_reduce_mean.run,
    "reduce_min": op_reduce_min.run,
    "reduce_prod": op_reduce_prod.run,
    "reduce_sum": op_reduce_sum.run,
    "reduce_sum_square": op_reduce_sum_square.run,
    "relu": op_relu.run,
    "relu6": op_relu6.run,
    "resample": op_resample.run,
    "reshape": op_reshape.run,
    "resize_bilinear": op_resize_bilinear.run,
    "resize_nearest_neighbor": op_resize_nearest_neighbor.run,
    "reverse": op_reverse.run,
    "reverse_sequence": op_reverse_sequence.run,
    "rnn": op_rnn.run,
    "round": op_round.run,
    "rsqrt": op_rsqrt.run,
    "scaled_tanh": op_scaled_tanh.run,
    "scatter": op_scatter.run,
    "scatter_along_axis": op_scatter_along_axis.run,
    "scatter_nd": op_scatter_nd.run,
    "select": op_select.run,
    "shape": op_shape.run,
    "sigmoid": op_sigmoid.run,
    "sigmoid_hard": op_sigmoid_hard.run,
    "sign": op_sign.run,
    "silu": op_silu.run,
    "sin": op_sin.run,
    "sinh": op_sinh.run,
    "slice_by_index": op_slice_by_index.run,
    "slice_by_size": op_slice_by_size.run,
    "sliding_windows": op_sliding_windows.run,
    "softmax": op_softmax.run,
    "softplus": op_softplus.run,
    "softplus_parametric": op_softplus_parametric.run,
    "softsign": op_softsign.run,
    "space_to_batch": op_space_to_batch.run,
    "space_to_depth": op_space_to_depth.run,
    "split": op_split.run,
    "sqrt": op_sqrt.run,
    "square": op_square.run,
    "squeeze": op_squeeze.run,
    "stack": op_stack.run,
    "sub": op_sub.run,
    "tan": op_tan.run,
    "tanh": op_tanh.run,
    "threshold": op_threshold.run,
    "thresholded_relu": op_thresholded_relu.run,
    "tile": op_tile.run,
    "topk": op_topk.run,
    "transpose": op_transpose.run,
    "upsample_bilinear": op_upsample_bilinear.run,
    "upsample_nearest_neighbor": op_upsample_nearest_neighbor.run,
    "while_loop": op_while_loop.run,

}

#: What each later target adds: new op types, and the later forms of ops whose inputs or meaning
#: changed there (`op_<type>_ios18`), which replace the earlier form from that target on.
IOS16: dict[str, Callable] = {
    "constexpr_affine_dequantize": op_constexpr_affine_dequantize.run,
    "constexpr_cast": op_constexpr_cast.run,
    "constexpr_lut_to_dense": op_constexpr_lut_to_dense.run,
    "constexpr_sparse_to_dense": op_constexpr_sparse_to_dense.run,
    "fill_like": op_fill_like.run,
    "pixel_unshuffle": op_pixel_unshuffle.run,
    "reshape_like": op_reshape_like.run,
}
IOS17: dict[str, Callable] = {
    "dequantize": op_dequantize.run,
    "quantize": op_quantize.run,
    "resize": op_resize.run,
}
IOS18: dict[str, Callable] = {
    "constexpr_blockwise_shift_scale": op_constexpr_blockwise_shift_scale.run,
    "constexpr_cast": op_constexpr_cast.run,  # its operands became inputs; the reader binds both forms alike
    "constexpr_lut_to_dense": op_constexpr_lut_to_dense_ios18.run,
    "constexpr_lut_to_sparse": op_constexpr_lut_to_sparse.run,
    "constexpr_sparse_blockwise_shift_scale": op_constexpr_sparse_blockwise_shift_scale.run,
    "constexpr_sparse_to_dense": op_constexpr_sparse_to_dense_ios18.run,
    "read_state": op_read_state.run,
    "scaled_dot_product_attention": op_scaled_dot_product_attention.run,
    "slice_update": op_slice_update.run,
    "write_state": op_write_state.run,
}

#: Each target's additions, oldest first; a program runs with the union up to its own target.
TARGETS: dict[str, dict[str, Callable]] = {"iOS15": IOS15, "iOS16": IOS16, "iOS17": IOS17, "iOS18": IOS18,
                                           "iOS26": {}}  # coremltools 9 defines no op for iOS26
#: The opset name a program records (coremltools' `_OPSET`) -> its deployment target.
OPSETS: dict[str, str] = {"CoreML5": "iOS15", "CoreML6": "iOS16", "CoreML7": "iOS17", "CoreML8": "iOS18",
                          "CoreML9": "iOS26"}


def target_of(opset: str) -> str:
    """The deployment target a program's opset names; an opset newer than this table gets the newest target."""
    if opset in OPSETS:
        return OPSETS[opset]
    number = opset.removeprefix("CoreML")
    if number.isdigit() and int(number) > max(int(o.removeprefix("CoreML")) for o in OPSETS):
        return list(TARGETS)[-1]
    raise ValueError(f"unknown opset {opset!r}; known: {', '.join(OPSETS)}")


def registry(opset: str) -> dict[str, Callable]:
    """The ops a program of this opset may use, each in the form its target defines."""
    target, ops = target_of(opset), {}
    for name, added in TARGETS.items():
        ops.update(added)
        if name == target:
            break
    return ops


def introduced(op_type: str) -> str | None:
    """The first target whose registry has this op type, or None."""
    return next((name for name, added in TARGETS.items() if op_type in added), None)


#: Every op type of every target, in its latest form.
OPS: dict[str, Callable] = registry(list(OPSETS)[-1])

#: Ops that prepare their constant inputs once, when the program is planned: `plan(ctx, **constant_inputs)`
#: returns a function of the op's other inputs, or None to run `OPS[type]` per call.
PLANS: dict[str, Callable] = {
    "conv": op_conv.plan,
}

#: Ops that may write their result over their one input `x` (same shape and dtype), given a float32 array
#: that no one else reads: `run_in_place(ctx, x)` returns what `run` would. The interpreter decides when
#: (`harness.mil.interpreter.FRESH_OUTPUTS`): a new array costs its pages on first touch, at batch 256
#: as much as the op's arithmetic.
IN_PLACE: dict[str, Callable] = {
    "relu": op_relu.run_in_place,
}

#: Inputs that take a list of values (every other input takes one): the ops' TupleInputType inputs.
VARIADIC: dict[str, tuple[str, ...]] = {
    "concat": ("values",),
    "einsum": ("values",),
    "make_list": ("elem_shape",),
    "reshape_like": ("ref_tensors", "begins", "ends", "end_masks"),
    "stack": ("values",),
    "while_loop": ("loop_vars",),
}

#: iOS15 op types deliberately not implemented, with the reason a result could not be trusted.
UNSUPPORTED: dict[str, str] = {
    "random_bernoulli": "draws from the device's random generator, which no seed reproduces off the device",
    "random_categorical": "draws from the device's random generator, which no seed reproduces off the device",
    "random_normal": "draws from the device's random generator, which no seed reproduces off the device",
    "random_uniform": "draws from the device's random generator, which no seed reproduces off the device",
    "conv_quantized": "experimental; only coremltools' neuralnetwork backend lowers it, and the spec leaves the "
                      "layout of quant_scale / quant_bias and the lut mode undefined",
}
