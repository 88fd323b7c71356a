"""The replacement prediction helper judges real converted programs as Apple's `compare_backend` would."""

from __future__ import annotations

import numpy as np
import pytest

from harness.mil.ops import OPS
from tests.conformance.helpers import FP16_STORAGE, Mismatch, compare_backend, tolerances
from tests.conformance.predict import UnsupportedCase, holds_fp16


def _convert(build, shape, dtype=None):
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    spec = mb.TensorSpec(shape=shape, dtype=types.fp16) if dtype == "fp16" else mb.TensorSpec(shape=shape)
    prog = mb.program(input_specs=[spec], opset_version=ct.target.iOS15)(build)
    return ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS15,
                      compute_units=ct.ComputeUnit.CPU_ONLY,
                      compute_precision=ct.precision.FLOAT32)


@pytest.fixture(scope="module")
def relu_model():
    from coremltools.converters.mil import Builder as mb

    return _convert(lambda x: mb.relu(x=x, name="out"), (2, 3))


X = np.array([[-1.5, 0.25, 2.0], [3.0, -0.5, 0.0]], np.float32)


def test_a_correct_expected_value_passes_and_returns_the_outputs(relu_model):
    pred = compare_backend(mlmodel=relu_model, input_key_values={"x": X}, expected_outputs={"out": np.maximum(X, 0)})
    np.testing.assert_array_equal(pred["out"], np.maximum(X, 0))


def test_a_value_off_by_more_than_atol_is_a_mismatch_with_its_gap(relu_model):
    wrong = np.maximum(X, 0) + np.float32(1e-3)
    with pytest.raises(Mismatch, match="atol=0.0001") as err:
        compare_backend(mlmodel=relu_model, input_key_values={"x": X}, expected_outputs={"out": wrong})
    assert err.value.max_abs == pytest.approx(1e-3, rel=1e-3)


def test_a_shape_other_than_expected_is_a_mismatch(relu_model):
    with pytest.raises(Mismatch, match="shape"):
        compare_backend(mlmodel=relu_model, input_key_values={"x": X},
                        expected_outputs={"out": np.maximum(X, 0).reshape(3, 2)})


def test_a_scalar_output_comes_back_with_shape_1_as_core_ml_returns_it():
    from coremltools.converters.mil import Builder as mb

    model = _convert(lambda x: mb.reduce_sum(x=x, axes=[0, 1], keep_dims=False, name="out"), (2, 3))
    pred = compare_backend(mlmodel=model, input_key_values={"x": X}, expected_outputs={"out": np.sum(X)})
    assert pred["out"].shape == (1,)
    np.testing.assert_allclose(pred["out"], [np.sum(X.astype(np.float64))], rtol=1e-6)


def test_fp16_programs_get_apples_widened_tolerances():
    # Apple's compare_backend: atol = max(atol * 100, 0.5), rtol = max(rtol * 100, 0.05).
    assert tolerances(1e-4, 1e-5, "fp16", cpu_only=True) == (0.5, 0.05)
    assert tolerances(1e-2, 1e-3, "fp16", cpu_only=True) == (1.0, 0.1)
    assert tolerances(1e-4, 1e-5, "fp32", cpu_only=False) == (0.5, 0.05)
    assert tolerances(1e-4, 1e-5, "fp32", cpu_only=True) == (1e-4, 1e-5)


def _random_programs():
    """One-op programs with ops the interpreter lacks today (random ops: unlikely to be added)."""
    from coremltools.converters.mil import Builder as mb

    shape = np.array([2, 3], np.int32)
    return {"random_uniform": lambda x: mb.add(x=x, y=mb.random_uniform(shape=shape), name="out"),
            "random_normal": lambda x: mb.add(x=x, y=mb.random_normal(shape=shape), name="out")}


def test_an_op_the_interpreter_lacks_is_unsupported_naming_it():
    missing = [(op, build) for op, build in _random_programs().items() if op not in OPS]
    if not missing:
        pytest.skip("the interpreter now implements every candidate op")
    op, build = missing[0]
    with pytest.raises(UnsupportedCase) as err:
        compare_backend(mlmodel=_convert(build, (2, 3)), input_key_values={"x": X}, expected_outputs={"out": X})
    assert op in err.value.op_types


def _scaled(dtype):
    """x * 1.1: exact in fp32, 1.1 rounded to 1.099609375 when the program holds its weight in fp16."""
    from coremltools.converters.mil import Builder as mb

    np_dtype = np.float16 if dtype == "fp16" else np.float32
    return _convert(lambda x: mb.mul(x=x, y=np_dtype(1.1), name="out"), (2, 3), dtype)


@pytest.fixture(scope="module")
def fp16_holding_model():
    return _scaled("fp16")


def test_the_program_says_whether_it_holds_float16_values(fp16_holding_model):
    assert holds_fp16(fp16_holding_model)
    assert not holds_fp16(_scaled("fp32"))


def test_an_fp16_holding_program_missing_apples_fp32_tolerance_is_judged_at_fp16_storages_allowance(
        fp16_holding_model):
    # The expected value computed without the program's fp16 rounding of 1.1, as Apple's tests compute theirs:
    # gaps of 1.2e-3 at x = 3 (over atol 1e-4, within 2^-7), so it passes, and says so.
    exact = X.astype(np.float64) * 1.1
    heard = []
    compare_backend(mlmodel=fp16_holding_model, input_key_values={"x": X}, expected_outputs={"out": exact},
                    fp16_storage=lambda: heard.append(True))
    assert heard == [True]
    # A value the program's rounding does not explain stays a mismatch, naming the allowance.
    with pytest.raises(Mismatch, match="judged at fp16 storage's allowance") as err:
        compare_backend(mlmodel=fp16_holding_model, input_key_values={"x": X},
                        expected_outputs={"out": exact + 4 * FP16_STORAGE})
    assert err.value.max_abs > FP16_STORAGE


def test_a_program_of_float32_values_gets_no_allowance():
    model = _scaled("fp32")
    heard = []
    with pytest.raises(Mismatch, match="atol=0.0001"):
        compare_backend(mlmodel=model, input_key_values={"x": X}, fp16_storage=lambda: heard.append(True),
                        expected_outputs={"out": X.astype(np.float64) * 1.1 + 1e-3})
    assert heard == []


def test_an_fp16_holding_program_within_apples_tolerance_is_not_counted_at_the_allowance(fp16_holding_model):
    rounded = X.astype(np.float64) * np.float64(np.float16(1.1))
    heard = []
    compare_backend(mlmodel=fp16_holding_model, input_key_values={"x": X}, expected_outputs={"out": rounded},
                    fp16_storage=lambda: heard.append(True))
    assert heard == []
