"""Build one-op MIL programs with coremltools' builder, convert them for real, run them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings


def op_examples() -> int:
    """Each example is a real coremltools conversion: a fraction of the profile's budget."""
    return max(5, settings().max_examples // 20)


@pytest.fixture(scope="session")
def run_mil():
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    from harness.mil import Interpreter, get_profile, load_program

    def run(build, inputs: dict[str, np.ndarray], profile: str = "fp32", precision: str = "fp32",
            capture: bool = False):
        specs = [mb.TensorSpec(shape=a.shape, dtype=ct.converters.mil.mil.types.fp32)
                 for a in inputs.values()]
        prog = mb.program(input_specs=specs, opset_version=ct.target.iOS15)(build)
        model = ct.convert(prog, convert_to="mlprogram", pass_pipeline=ct.PassPipeline.EMPTY,
                           compute_precision=ct.precision.FLOAT32, minimum_deployment_target=ct.target.iOS15)
        program = load_program(model.package_path)
        names = [n for n, _ in program.inputs]
        result = Interpreter(program, get_profile(profile)).run(
            dict(zip(names, inputs.values(), strict=True)), capture=capture)
        outs = list(result.outputs.values())
        return (outs[0] if len(outs) == 1 else outs) if not capture else (outs, result, program)

    return run
