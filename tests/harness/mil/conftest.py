"""Build one-op MIL programs with coremltools' builder, convert them for real, run them.

A conversion goes through coremltools' own MIL -> mlprogram pipeline (`mil_convert`: the
backend passes, the protobuf and the weight blob written to an `.mlpackage`), and the
interpreter reads that package back, as it reads any exported model. `ct.convert` does the
same and then a full `gc.collect()`, 90% of its time with torch loaded (0.17 s against
0.02 s a program); the op tests skip that collection and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import settings
from hypothesis import strategies as st

MIL_DTYPES = {np.dtype(np.float32): "fp32", np.dtype(np.float16): "fp16", np.dtype(np.int32): "int32",
              np.dtype(np.bool_): "bool"}


def op_examples() -> int:
    """Each example is a real coremltools conversion: a fraction of the profile's budget."""
    return max(5, settings().max_examples // 20)


op_settings = settings(max_examples=op_examples(), deadline=None)
SEEDS = st.integers(0, 2**32 - 1)
#: float32 against a float32 reference: a few ulps of reordering, and exp/log's last-bit differences.
FP32_TOL = dict(rtol=1e-5, atol=1e-5)


def rand(seed, *shape, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def convert(prog, opset):
    """A builder `Program` through coremltools' mlprogram backend, read back from its package."""
    import coremltools as ct
    from coremltools.converters.mil.converter import mil_convert

    from harness.mil import load_program

    model = mil_convert(prog, convert_from="milinternal", convert_to="mlprogram",
                        compute_units=ct.ComputeUnit.CPU_ONLY, specification_version=opset,
                        main_pipeline=ct.PassPipeline.EMPTY, skip_model_load=True)
    return load_program(model.package_path)


@pytest.fixture(scope="session")
def mil_program():
    """build, {name: example array or TensorSpec} -> the converted `Program`."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types
    from coremltools.converters.mil.mil.program import Placeholder

    def make(build, inputs: dict, opset=None):
        opset = opset or ct.target.iOS15
        specs = [a if isinstance(a, Placeholder) else
                 mb.TensorSpec(shape=np.shape(a), dtype=getattr(types, MIL_DTYPES[np.asarray(a).dtype]))
                 for a in inputs.values()]
        return convert(mb.program(input_specs=specs, opset_version=opset)(build), opset)

    return make


@pytest.fixture(scope="session")
def run_mil(mil_program):
    from harness.mil import Interpreter, get_profile

    def run(build, inputs: dict[str, np.ndarray], profile: str = "fp32", capture: bool = False, opset=None,
            specs: dict | None = None):
        """Inputs keep their dtype (fp32, fp16, int32, bool); `specs` overrides a declared shape."""
        program = mil_program(build, {**inputs, **(specs or {})}, opset)
        names = [n for n, _ in program.inputs]
        result = Interpreter(program, get_profile(profile)).run(
            dict(zip(names, inputs.values(), strict=True)), capture=capture)
        outs = list(result.outputs.values())
        return (outs[0] if len(outs) == 1 else outs) if not capture else (outs, result, program)

    return run
