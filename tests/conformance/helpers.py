"""Drop-in replacements for the prediction helpers in coremltools' test utilities.

Each keeps Apple's signature and checks (output shapes, the proto's declared shapes, values
with the test's atol/rtol, widened as Apple widens them for fp16 programs or compute units
other than CPU) and differs in one thing: the prediction comes from `predict.predict`.
A value or shape check that fails raises `Mismatch`; `observe` hears each program's op types.

One judging rule is ours, stated in docs/mil-conformance.md: a case converted at fp32 precision
whose program itself holds float16 values (the test declared fp16 inputs, weights or outputs)
computes from fp16-rounded values, while Apple's fp32 atol/rtol assume exact ones and its expected
values are mostly computed without that rounding. Such a case that misses Apple's fp32 tolerance is
judged again at `FP16_STORAGE` (2^-7 absolute and relative: half an fp16 ulp of values up to 16,
64x tighter than Apple's fp16 atol and 6x its rtol) and, if it holds there, passes with
`fp16_storage` heard, so the tables count it apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tests.conformance.predict import holds_fp16, predict, sanitized

Observer = Callable[[set[str]], None] | None

#: The allowance for an fp32-precision program that holds float16 values (see the module's docstring).
FP16_STORAGE = 2.0**-7


class Mismatch(AssertionError):
    """The interpreter's output differs from the test's expected value; `max_abs` is the largest gap."""

    def __init__(self, message: str, max_abs: float = float("inf")):
        super().__init__(message)
        self.max_abs = max_abs


def tolerances(atol: float, rtol: float, dtype: str, cpu_only: bool) -> tuple[float, float]:
    """Apple's rule in `compare_backend`/`convert_and_compare`: fp16 or a non-CPU unit widens both."""
    if dtype == "fp16" or not cpu_only:
        return max(atol * 100.0, 5e-1), max(rtol * 100.0, 5e-2)
    return atol, rtol


def _output(pred: dict, name: str):
    if name in pred:
        return pred[name]
    if sanitized(name) in pred:
        return pred[sanitized(name)]
    raise KeyError(f"{name} output not found in the interpreter's outputs {sorted(pred)}")


def _check_shapes(mlmodel, expected_outputs: dict, pred: dict) -> None:
    """Apple's `compare_shapes`: runtime shape == expected shape == the proto's declared shape."""
    declared = {o.name: list(o.type.multiArrayType.shape) for o in mlmodel.get_spec().description.output}
    for name, expected in expected_outputs.items():
        got = _output(pred, name)
        if not (isinstance(got, np.ndarray | np.generic) and isinstance(expected, np.ndarray | np.generic)):
            continue
        if expected.shape == () and got.shape == (1,):
            continue
        if got.shape != expected.shape:
            raise Mismatch(f"output {name}: expected shape {expected.shape} != interpreter shape {got.shape}")
        proto = declared.get(sanitized(name), [])
        if proto and proto != list(got.shape):
            raise Mismatch(f"output {name}: interpreter shape {got.shape} != shape declared in the proto {proto}")


def _assert_close(name: str, got: np.ndarray, expected, atol: float, rtol: float, allow_ratio: float = 0.0):
    try:
        np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)
    except AssertionError as err:
        bad = np.sum(~np.isclose(got, expected, atol=atol, rtol=rtol))
        if bad / max(np.size(expected), 1) > allow_ratio:
            with np.errstate(invalid="ignore"):
                gap = np.abs(np.asarray(got, np.float64) - np.asarray(expected, np.float64))
            max_abs = float(np.nanmax(gap)) if gap.size and not np.isnan(gap).all() else float("inf")
            raise Mismatch(f"output {name} (atol={atol:g}, rtol={rtol:g}):{err}", max_abs) from None
    except (TypeError, ValueError) as err:  # e.g. shapes that do not broadcast
        raise Mismatch(f"output {name}: {err}") from None


def compare_backend(mlmodel, input_key_values, expected_outputs, dtype="fp32", atol=1e-04, rtol=1e-05,
                    also_compare_shapes=True, state=None, allow_mismatch_ratio=0.0, *, observe: Observer = None,
                    fp16_storage: Callable[[], None] | None = None):
    """`coremltools.converters.mil.testing_utils.compare_backend`, predicting with the interpreter."""
    import coremltools as ct

    if dtype not in ("fp32", "fp16"):
        raise ValueError("Unsupported dtype config")
    pred = predict(mlmodel, input_key_values, state=state, observe=observe)
    if expected_outputs is None:
        return pred
    if also_compare_shapes:
        _check_shapes(mlmodel, expected_outputs, pred)
    atol, rtol = tolerances(atol, rtol, dtype, mlmodel.compute_unit == ct.ComputeUnit.CPU_ONLY)
    try:
        _compare_values(pred, expected_outputs, atol, rtol, allow_mismatch_ratio)
    except Mismatch:
        if dtype != "fp32" or not holds_fp16(mlmodel):
            raise
        try:
            _compare_values(pred, expected_outputs, max(atol, FP16_STORAGE), max(rtol, FP16_STORAGE),
                            allow_mismatch_ratio)
        except Mismatch as err:
            raise Mismatch(f"{err} (the program holds float16 values: judged at fp16 storage's allowance)",
                           err.max_abs) from None
        if fp16_storage is not None:
            fp16_storage()
    return pred


def _compare_values(pred: dict, expected_outputs: dict, atol: float, rtol: float, allow_ratio: float) -> None:
    for name, expected in expected_outputs.items():
        got = _output(pred, name)
        if isinstance(got, np.ndarray):
            _assert_close(name, got, expected, atol, rtol, allow_ratio)
        elif isinstance(got, dict):
            for k, v in got.items():
                if k not in expected or expected[k] != v:
                    raise Mismatch(f"output {name}[{k!r}]: expected {expected.get(k)!r}, interpreter {v!r}")
        elif got != expected:
            raise Mismatch(f"output {name}: expected {expected!r}, interpreter {got!r}")


def get_core_ml_prediction(build, input_placeholders, input_values, backend, compute_unit=None, *,
                           observe: Observer = None):
    """`coremltools.converters.mil.testing_utils.get_core_ml_prediction`, predicting with the interpreter."""
    import coremltools as ct
    from coremltools.converters.mil import mil
    from coremltools.converters.mil.mil import Function
    from coremltools.converters.mil.testing_utils import ct_convert

    program = mil.Program()
    with Function(input_placeholders, opset_version=backend.opset_version) as ssa_func:
        outputs = build(**ssa_func.inputs)
        outputs = list(outputs) if isinstance(outputs, tuple | list) else [outputs]
        ssa_func.set_outputs(outputs)
        program.add_function("main", ssa_func)
    mlmodel = ct_convert(program, source="milinternal", convert_to=(backend.backend, backend.precision),
                         compute_units=compute_unit or ct.ComputeUnit.CPU_ONLY,
                         minimum_deployment_target=backend.opset_version)
    return predict(mlmodel, dict(input_values), observe=observe)


def convert_and_compare(input_data, model_spec, expected_results=None, atol=1e-4, rtol=1e-05,
                        backend=("neuralnetwork", "fp32"), converter_input_type=None, compute_unit=None,
                        minimum_deployment_target=None, converter=None, *, observe: Observer = None):
    """`coremltools...frontend.torch.test.testing_utils.convert_and_compare`, predicting with the interpreter."""
    import coremltools as ct
    import torch
    from coremltools.converters.mil.frontend.torch.test import testing_utils as apple

    torch_model = torch.jit.load(model_spec) if isinstance(model_spec, str) else model_spec
    if isinstance(torch_model, torch.export.ExportedProgram):
        torch_model = torch_model.module()
    if not isinstance(input_data, list | tuple):
        input_data = [input_data]
    if expected_results is None:
        expected_results = torch_model(*apple._copy_input_data(input_data))
    expected_results = apple.flatten_and_detach_torch_results(expected_results)

    compute_unit = compute_unit or ct.ComputeUnit.CPU_ONLY
    mlmodel = apple.convert_to_mlmodel(model_spec, input_data, backend=backend,
                                       converter_input_type=converter_input_type, compute_unit=compute_unit,
                                       minimum_deployment_target=minimum_deployment_target,
                                       converter=converter or ct.convert)
    coreml_inputs = apple.convert_to_coreml_inputs(mlmodel.input_description, input_data)
    atol, rtol = tolerances(atol, rtol, backend[1], mlmodel.compute_unit == ct.ComputeUnit.CPU_ONLY)
    preds = predict(mlmodel, dict(coreml_inputs), observe=observe)
    names = [o.name for o in mlmodel._spec.description.output]
    for k, (expected, name) in enumerate(zip(expected_results, names, strict=False)):
        got = preds[name]
        if expected.shape == ():
            expected = np.array([expected])
        if got.shape != expected.shape:
            raise Mismatch(f"output {k} ({name}): torch shape {expected.shape} != interpreter shape {got.shape}")
        _assert_close(name, got, expected, atol, rtol)
    return model_spec, mlmodel, coreml_inputs, preds
