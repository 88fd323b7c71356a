"""Reading an .mlpackage: structure and weights exactly as exported."""

from __future__ import annotations

import numpy as np
import pytest

from harness.mil import load_program
from harness.mil.program import ProgramError


def test_program_structure(trendsplit_export):
    manifest, folder = trendsplit_export
    program = load_program(folder / manifest.artifact("coreml", "fp16").path)
    assert [n for n, _ in program.inputs] == ["points"]
    assert program.inputs[0][1].dtype == "FLOAT32" and program.inputs[0][1].shape == (None, 2, 100)
    assert program.main.outputs == ["split_probs"]
    assert program.op_types() >= {"const", "cast", "clip", "conv", "relu", "sigmoid", "squeeze"}


@pytest.mark.parametrize("precision, dtype", [("fp32", np.float32), ("fp16", np.float16)])
def test_weights_are_the_models_at_the_artifacts_precision(trendsplit, trendsplit_export, precision, dtype):
    manifest, folder = trendsplit_export
    program = load_program(folder / manifest.artifact("coreml", precision).path)
    consts = [op.value for op in program.main.operations if op.type == "const"
              and isinstance(op.value, np.ndarray) and op.value.ndim == 3]
    weights = [v.numpy() for k, v in trendsplit.build().state_dict().items() if k.endswith("weight")]
    assert len(consts) == len(weights) == 5
    for got, want in zip(consts, weights, strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want.astype(dtype))


def test_missing_function_is_named(trendsplit_export):
    manifest, folder = trendsplit_export
    with pytest.raises(ProgramError, match="has no function 'other'"):
        load_program(folder / manifest.artifact("coreml", "fp32").path, function="other")
