"""A converted model's prediction made by the MIL interpreter (fp32 profile) instead of Core ML.

Inputs are fed as Core ML's `predict` gets them in Apple's helpers (`run_core_ml_predict`):
float32 arrays, a scalar as a one-element vector. A stateful program's state is the interpreter's
(`make_state`, what `MLModel.make_state()` gives on a Mac: zero-filled buffers kept across
predictions). A case the interpreter cannot run (an op it lacks, image inputs) raises
`UnsupportedCase`, which pytest reports as a skip.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from harness.mil import Interpreter, get_profile, load_program
from harness.mil.interpreter import OpFailed, UnsupportedOp
from harness.mil.ops._scatter import InvalidIndices
from harness.mil.state import ProgramState

#: The profile Apple's expected values are judged against: fp32 everywhere, like Core ML's CPU.
PROFILE = "fp32"


class UnsupportedCase(pytest.skip.Exception):
    """The case needs something the interpreter does not do; `op_types` names the missing ops."""

    def __init__(self, reason: str, op_types: tuple[str, ...] = ()):
        super().__init__(f"unsupported: {reason}")
        self.op_types = op_types


def sanitized(name: str) -> str:
    """The name Core ML gives a feature (coremltools' own rule, as its helpers look names up)."""
    from coremltools.converters.mil.mil.passes.defs.preprocess import NameSanitizer

    return NameSanitizer._replace_invalid_char_with_underscore(name)


def _feed(value) -> np.ndarray:
    value = np.asarray(value)
    return np.array([value], np.float32) if value.shape == () else value.astype(np.float32)


def make_state(mlmodel) -> ProgramState:
    """`mlmodel.make_state()` as on a Mac: the program's state buffers, zero-filled, for a sequence of predictions."""
    return Interpreter(load_program(mlmodel.package_path), get_profile(PROFILE)).make_state()


def predict(mlmodel, inputs: dict, state: ProgramState | None = None,
            observe: Callable[[set[str]], None] | None = None) -> dict[str, np.ndarray]:
    """Outputs by feature name, as `mlmodel.predict(inputs, state)` returns them on a Mac."""
    images = [i.name for i in mlmodel.get_spec().description.input if i.type.WhichOneof("Type") == "imageType"]
    if images:
        raise UnsupportedCase(f"image input {images[0]!r}")
    program = load_program(mlmodel.package_path)
    if observe is not None:
        observe(program.op_types() - {"const"})
    scalars = _declared_scalars(program)
    by_name = {sanitized(k): v for k, v in inputs.items()}
    feeds = {name: _feed(by_name[name]) for name, _ in program.inputs}
    try:
        outputs = Interpreter(program, get_profile(PROFILE)).run(feeds, state=state).outputs
    except UnsupportedOp as err:
        missing = tuple(getattr(err, "missing", None) or (err.op_type,))
        raise UnsupportedCase(str(err).split("; supported ops:")[0], op_types=missing) from err
    except OpFailed as err:
        if isinstance(err.__cause__, InvalidIndices):  # Core ML's runtime check: predict raises, as on a Mac
            raise RuntimeError(f"Unable to compute the prediction using ML Program ({err})") from err
        raise
    return {name: _as_core_ml_returns(value, name in scalars) for name, value in outputs.items()}


def holds_fp16(mlmodel) -> bool:
    """Whether the program itself holds float16 values (an input, a weight, an op's result), as a test builds
    it when it declares fp16 dtypes: at fp32 compute precision coremltools adds no fp16 of its own."""
    program = load_program(mlmodel.package_path)
    typed = [t for _, t in program.inputs] + [t for op in program.operations() for _, t in op.outputs]
    inline = (b.value for op in program.operations() for bs in op.inputs.values() for b in bs)
    return (any(t.dtype == "FLOAT16" for t in typed)
            or any(isinstance(v, np.ndarray) and v.dtype == np.float16 for v in inline))


def _declared_scalars(program) -> set[str]:
    declared = dict(program.inputs)
    declared.update((name, ttype) for op in program.main.operations for name, ttype in op.outputs)
    return {name for name in program.main.outputs if name in declared and declared[name].shape == ()}


def _as_core_ml_returns(value, scalar: bool):
    """Core ML has no rank-0 outputs: an output the program declares scalar comes back with shape (1,)."""
    return value.reshape(1) if scalar and isinstance(value, np.ndarray) and value.shape == () else value
