"""Which of coremltools' installed test files make a suite, and the fixed sample the default run uses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from harness.errors import UsageError

#: Suite -> test files or folders, relative to the installed coremltools package.
SUITES: dict[str, tuple[str, ...]] = {
    # Apple's MIL op tests; with ML programs only, the iOS14 folder runs at opset iOS15 too.
    "mil-ios15": ("converters/mil/mil/ops/tests/iOS14", "converters/mil/mil/ops/tests/iOS15"),
    # The later targets' own folders: each runs its tests at its target (Apple's default, without
    # RUN_BACKWARD_COMPATIBILITY), with the interpreter's registry for that target.
    "mil-ios16": ("converters/mil/mil/ops/tests/iOS16",),
    "mil-ios17": ("converters/mil/mil/ops/tests/iOS17",),
    "mil-ios18": ("converters/mil/mil/ops/tests/iOS18",),
    # Torch models through coremltools' torch frontend (optional: ~22,700 cases).
    "torch": ("converters/mil/frontend/torch/test/test_torch_ops.py",),
}

#: The default run's sample: op test classes whose ops the interpreter implements (the ops small
#: models use most, and the later targets' new ones: attention, state, compression, quantization,
#: resize); of their fp32 cases (fp16 ones are judged with Apple's widened tolerances) the ones that
#: predict (Apple names most of them test_builder_to_backend_*; SAMPLE_KEYWORD names the others), every
#: SAMPLE_EVERY-th of a class and at most SAMPLE_PER_CLASS of them.
_OPS = "converters/mil/mil/ops/tests/"
SAMPLE: tuple[str, ...] = tuple(f"{_OPS}{file}::{cls}" for file, classes in {
    "iOS14/test_activation.py": ("TestReLU", "TestSigmoid", "TestGeLU", "TestSoftmax", "TestSiLU"),
    "iOS14/test_elementwise_binary.py": ("TestElementwiseBinary", "TestLess"),
    "iOS14/test_elementwise_unary.py": ("TestElementwiseUnary",),
    "iOS14/test_linear.py": ("TestLinear", "TestMatMul", "TestEinsum"),
    "iOS14/test_conv.py": ("TestConv", "TestConvTranspose"),
    "iOS14/test_pool.py": ("TestAvgPool", "TestMaxPool"),
    "iOS14/test_normalization.py": ("TestNormalizationLayerNorm", "TestNormalizationInstanceNorm"),
    "iOS14/test_reduction.py": ("TestReduction",),
    "iOS14/test_tensor_operation.py": ("TestConcat", "TestPad", "TestTopK"),
    "iOS14/test_tensor_transformation.py": ("TestReshape", "TestTranspose", "TestSqueeze", "TestExpandDims",
                                            "TestSliceBySize", "TestSplit"),
    "iOS14/test_scatter_gather.py": ("TestGather", "TestGatherAlongAxis"),
    "iOS14/test_control_flow.py": ("TestWhileLoop", "TestCond"),
    "iOS14/test_image_resizing.py": ("TestUpsampleNearestNeighbor", "TestUpsampleBilinear"),
    "iOS14/test_recurrent.py": ("TestLSTM", "TestGRU"),
    "iOS16/test_constexpr_ops.py": ("TestConstexprLutToDense",),
    "iOS17/test_quantization.py": ("TestQuantize", "TestDequantize"),
    "iOS17/test_image_resizing.py": ("TestResize",),
    "iOS18/test_transformers.py": ("TestScaledDotProductAttention",),
    "iOS18/test_tensor_transformation.py": ("TestSliceUpdate",),
    "iOS18/test_compression.py": ("TestConstexprBlockwiseDequantize",),
    "iOS18/test_states.py": ("TestStatefulModel",),
}.items() for cls in classes)
SAMPLE_PRECISION = "fp32"
SAMPLE_KEYWORD = "to_backend or test_resize_ or test_state_model"
SAMPLE_EVERY = 5
SAMPLE_PER_CLASS = 2


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


def shard_target(shard: str) -> str:
    """The pytest argument of a shard `FILE[::CLASS]`: FILE relative to the installed coremltools (or absolute)."""
    return str(coremltools_root() / shard)


def shard_of(nodeid: str) -> str:
    """A case's shard, `FILE::CLASS` (or `FILE` for a test outside a class), FILE relative to coremltools; a case id
    is relative to the folder holding coremltools (`run.pytest_args` makes it the rootdir)."""
    path, _, rest = nodeid.partition("::")
    test_class = rest.split("::")[0] if "::" in rest else ""
    path = path.removeprefix("coremltools/")
    return f"{path}::{test_class}" if test_class else path
