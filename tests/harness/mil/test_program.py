"""Reading an .mlpackage: structure and weights exactly as exported."""

from __future__ import annotations

import numpy as np
import pytest

from harness.mil import load_program
from harness.mil.program import ProgramError
from tests.user_model import series


def test_program_structure(series_export):
    manifest, folder = series_export
    program = load_program(folder / manifest.artifact("coreml", "fp16").path)
    assert [n for n, _ in program.inputs] == ["series"]
    assert program.inputs[0][1].dtype == "FLOAT32" and program.inputs[0][1].shape == (None, 2, series.LENGTH)
    assert program.main.outputs == ["probs"]
    assert program.op_types() >= {"const", "cast", "conv", "relu", "reduce_mean", "sub", "sigmoid", "squeeze"}


@pytest.mark.parametrize("precision, dtype", [("fp32", np.float32), ("fp16", np.float16)])
def test_weights_are_the_models_at_the_artifacts_precision(series_model, series_export, precision, dtype):
    manifest, folder = series_export
    program = load_program(folder / manifest.artifact("coreml", precision).path)
    consts = [op.value for op in program.main.operations if op.type == "const"
              and isinstance(op.value, np.ndarray) and op.value.ndim == 3]
    weights = [v.numpy() for k, v in series_model.build().state_dict().items() if k.endswith("weight")]
    assert len(consts) == len(weights) == 3  # the three Conv1d
    for got, want in zip(consts, weights, strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want.astype(dtype))


def test_missing_function_is_named(series_export):
    manifest, folder = series_export
    with pytest.raises(ProgramError, match="has no function 'other'"):
        load_program(folder / manifest.artifact("coreml", "fp32").path, function="other")


@pytest.mark.parametrize("dtype", ["uint1", "uint2", "uint3", "uint4", "uint6", "uint8", "int4", "int8"])
@pytest.mark.parametrize("count", [7, 61])  # 7 values are written inline, packed; 61 go to weights/weight.bin
def test_every_weight_dtype_reads_back_exactly_inline_and_from_the_weight_file(dtype, count):
    """The values a compression op's operand holds, read back as coremltools wrote them."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    from harness.mlpackage import load_spec
    from tests.harness.mil.conftest import convert

    builtin = types.string_to_builtin(dtype)
    low, high = types.type_mapping.builtin_to_range(builtin)
    values = np.random.default_rng(count).integers(low, high + 1, size=count)
    values[:2] = low, high
    data = values.astype(types.nptype_from_builtin(builtin))

    @mb.program(input_specs=[mb.TensorSpec(shape=(count,))], opset_version=ct.target.iOS18)
    def prog(x):
        if dtype.startswith("uint") and dtype != "uint8" or dtype == "uint8" and count == 7:  # palette indices
            nbits = int(dtype.removeprefix("uint"))
            weight = mb.constexpr_lut_to_dense(indices=data, lut=np.arange(2**nbits, dtype=np.float32).reshape(
                1, 2**nbits, 1))
        else:  # quantized data
            weight = mb.constexpr_blockwise_shift_scale(data=data, scale=np.ones(1, np.float32))
        return mb.add(x=x, y=weight)

    program = convert(prog, ct.target.iOS18)
    op = next(op for op in program.operations() if op.type.startswith("constexpr_"))
    operand = "indices" if op.type == "constexpr_lut_to_dense" else "data"
    read = op.inputs[operand][0].value
    np.testing.assert_array_equal(read, values)
    assert read.dtype == (np.int8 if dtype.startswith("int") else np.uint8)
    written = next(o for o in load_spec(program.path).mlProgram.functions["main"].block_specializations[
        program.opset].operations if o.type == op.type).inputs[operand].arguments[0].value
    assert written.WhichOneof("value") == ("blobFileValue" if count > 10 else "immediateValue")
