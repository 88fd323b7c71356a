"""Which of coremltools' installed test files make a suite, and the fixed sample the default run uses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from harness.errors import UsageError

#: Suite -> test files or folders, relative to the installed coremltools package.
SUITES: dict[str, tuple[str, ...]] = {
    # Apple's MIL op tests; with ML programs only, the iOS14 folder runs at opset iOS15 too.
    "mil-ios15": ("converters/mil/mil/ops/tests/iOS14", "converters/mil/mil/ops/tests/iOS15"),
    # Torch models through coremltools' torch frontend (optional: ~22,700 cases).
    "torch": ("converters/mil/frontend/torch/test/test_torch_ops.py",),
}

#: The default run's sample: op test classes whose ops the interpreter implements, fp32 programs
#: (fp16 ones are judged with Apple's widened fp16 tolerances), every SAMPLE_EVERY-th case.
SAMPLE: tuple[str, ...] = (
    "converters/mil/mil/ops/tests/iOS14/test_activation.py::TestReLU",
    "converters/mil/mil/ops/tests/iOS14/test_activation.py::TestSigmoid",
    "converters/mil/mil/ops/tests/iOS14/test_activation.py::TestGeLU",
    "converters/mil/mil/ops/tests/iOS14/test_activation.py::TestSoftmax",
    "converters/mil/mil/ops/tests/iOS14/test_elementwise_binary.py::TestElementwiseBinary",
    "converters/mil/mil/ops/tests/iOS14/test_linear.py::TestLinear",
    "converters/mil/mil/ops/tests/iOS14/test_linear.py::TestMatMul",
    "converters/mil/mil/ops/tests/iOS14/test_conv.py::TestConv",
    "converters/mil/mil/ops/tests/iOS14/test_pool.py::TestAvgPool",
    "converters/mil/mil/ops/tests/iOS14/test_normalization.py::TestNormalizationLayerNorm",
    "converters/mil/mil/ops/tests/iOS14/test_reduction.py::TestReduction",
    "converters/mil/mil/ops/tests/iOS14/test_tensor_operation.py::TestConcat",
    "converters/mil/mil/ops/tests/iOS14/test_tensor_transformation.py::TestTranspose",
    "converters/mil/mil/ops/tests/iOS14/test_tensor_transformation.py::TestSqueeze",
    "converters/mil/mil/ops/tests/iOS14/test_tensor_transformation.py::TestExpandDims",
    "converters/mil/mil/ops/tests/iOS14/test_scatter_gather.py::TestGather",
)
SAMPLE_PRECISION = "fp32"
SAMPLE_EVERY = 3


def coremltools_root() -> Path:
    """The installed coremltools package folder, found without importing it."""
    spec = importlib.util.find_spec("coremltools")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("coremltools is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations)))


def targets(suite: str) -> list[str]:
    """pytest arguments (absolute paths) for a suite's test files."""
    if suite not in SUITES:
        raise UsageError(f"unknown conformance suite {suite!r}; known: {', '.join(SUITES)}")
    root = coremltools_root()
    return [str(root / rel) for rel in SUITES[suite]]


def sample_targets() -> list[str]:
    root = coremltools_root()
    return [str(root / rel) for rel in SAMPLE]
