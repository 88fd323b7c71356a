"""Compressed weights end to end: a small torch model converted at iOS18, compressed with coremltools' optimize
API in every way a team ships (int8 / int4 quantization per channel and per block, 1-8 bit palettes per tensor
and per grouped channel, 50% and 75% sparsity, sparsity with a palette or int8), run by the interpreter.

The interpreter must give exactly what it gives for the same program with its weights decompressed by
coremltools (`decompress_weights`), under every profile; and for an fp32 program, torch's result with those
dense weights within fp32 rounding (the result depends on the compression only through the weights).
"""

from __future__ import annotations

import coremltools as ct
import coremltools.optimize.coreml as cto
import numpy as np
import pytest
import torch

from harness.mil import Interpreter, get_profile, load_program
from tests.harness.mil.conftest import FP32_TOL

SMALL = dict(weight_threshold=0)  # compress every weight, however small


def quantized(**config):
    return lambda m: cto.linear_quantize_weights(m, cto.OptimizationConfig(cto.OpLinearQuantizerConfig(**SMALL,
                                                                                                        **config)))


def palettized(**config):  # uniform palettes: k-means would need scikit-learn
    return lambda m: cto.palettize_weights(m, cto.OptimizationConfig(cto.OpPalettizerConfig(mode="uniform", **SMALL,
                                                                                            **config)))


def pruned(sparsity, then=None):
    """Magnitude pruning; `then` compresses the sparse weights further, keeping them sparse (joint compression)."""
    def compress(m):
        sparse = cto.prune_weights(m, cto.OptimizationConfig(cto.OpMagnitudePrunerConfig(target_sparsity=sparsity,
                                                                                         **SMALL)))
        return sparse if then is None else then(sparse)
    return compress


def sparse_palette(m):
    config = cto.OptimizationConfig(cto.OpPalettizerConfig(mode="uniform", nbits=4, **SMALL))
    return cto.palettize_weights(m, config, joint_compression=True)


def sparse_int8(m):
    config = cto.OptimizationConfig(cto.OpLinearQuantizerConfig(dtype="int8", **SMALL))
    return cto.linear_quantize_weights(m, config, joint_compression=True)


#: variant -> (compression, the constexpr ops the compressed program must hold)
VARIANTS = {
    "int8 per channel": (quantized(dtype="int8", granularity="per_channel"), {"constexpr_blockwise_shift_scale"}),
    "int8 per block": (quantized(mode="linear", dtype="int8", granularity="per_block", block_size=4),
                       {"constexpr_blockwise_shift_scale"}),
    "int4 per block": (quantized(dtype="int4", granularity="per_block", block_size=4),
                       {"constexpr_blockwise_shift_scale"}),
    **{f"{n}-bit palette per tensor": (palettized(nbits=n), {"constexpr_lut_to_dense"}) for n in (1, 2, 4, 6, 8)},
    **{f"{n}-bit palette per grouped channel": (palettized(nbits=n, granularity="per_grouped_channel", group_size=4),
                                                {"constexpr_lut_to_dense"}) for n in (1, 2, 4, 6, 8)},
    "4-bit palette with per-channel scales": (palettized(nbits=4, enable_per_channel_scale=True),
                                              {"constexpr_lut_to_dense", "constexpr_blockwise_shift_scale"}),
    "50% sparse": (pruned(0.5), {"constexpr_sparse_to_dense"}),
    "75% sparse": (pruned(0.75), {"constexpr_sparse_to_dense"}),
    "50% sparse, 4-bit palette": (pruned(0.5, sparse_palette),
                                  {"constexpr_lut_to_sparse", "constexpr_sparse_to_dense"}),
    "50% sparse, int8": (pruned(0.5, sparse_int8),
                         {"constexpr_sparse_blockwise_shift_scale", "constexpr_sparse_to_dense"}),
}


class Net(torch.nn.Sequential):
    def __init__(self):
        super().__init__(torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                         torch.nn.Linear(16 * 4 * 4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))


@pytest.fixture(scope="module")
def converted():
    """{precision: (torch model, example input, the iOS18 model)}: one fp32 and one fp16 program."""
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(2, 8, 6, 6)
    traced = torch.jit.trace(net, x)
    return net, x, {p: ct.convert(traced, inputs=[ct.TensorType(shape=x.shape)],
                                  minimum_deployment_target=ct.target.iOS18,
                                  compute_precision=ct.precision.FLOAT32 if p == "fp32" else ct.precision.FLOAT16)
                    for p in ("fp32", "fp16")}


def output(program, x, profile):
    return next(iter(Interpreter(program, get_profile(profile)).run({program.inputs[0][0]: x}).outputs.values()))


def dense_weights(program) -> dict[tuple[int, ...], np.ndarray]:
    """The decompressed program's weight and bias constants, by shape (every parameter's shape differs here)."""
    return {op.value.shape: op.value for op in program.operations()
            if op.type == "const" and isinstance(op.value, np.ndarray) and op.value.ndim and op.value.size > 4}


#: The default suite's share: every constexpr op and sub-byte width once, fp32 and fp16 programs; the rest is slow.
DEFAULT = {("int8 per channel", "fp16"), ("int4 per block", "fp32"), ("int8 per block", "fp16"),
           ("1-bit palette per tensor", "fp32"), ("2-bit palette per grouped channel", "fp16"),
           ("6-bit palette per tensor", "fp32"), ("4-bit palette with per-channel scales", "fp16"),
           ("75% sparse", "fp32"), ("50% sparse, 4-bit palette", "fp16"), ("50% sparse, int8", "fp32")}
CASES = [pytest.param(v, p, marks=() if (v, p) in DEFAULT else pytest.mark.slow)
         for v in sorted(VARIANTS) for p in ("fp32", "fp16")]


@pytest.mark.parametrize("variant, precision", CASES)
def test_a_compressed_program_runs_as_its_decompressed_program(converted, variant, precision):
    net, x, models = converted
    compress, ops = VARIANTS[variant]
    model = compress(models[precision])
    program = load_program(model.package_path)
    assert {t for t in program.op_types() if t.startswith("constexpr_")} == ops
    dense = load_program(cto.decompress_weights(model).package_path)
    assert not any(t.startswith("constexpr_") for t in dense.op_types())
    for profile in ("fp32", "fp16-storage", "fp16"):
        np.testing.assert_array_equal(output(program, x.numpy(), profile), output(dense, x.numpy(), profile),
                                      err_msg=f"{variant}, {precision} program, {profile} profile")
    if precision == "fp32":  # torch with the dense weights: what the compression made of the model
        weights = dense_weights(dense)
        ref = Net().eval()
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(torch.from_numpy(weights[tuple(p.shape)].astype(np.float32)))
            want = ref(x).numpy()
        np.testing.assert_allclose(output(program, x.numpy(), "fp32"), want, **FP32_TOL)
        assert not np.allclose(want, net(x).detach().numpy(), **FP32_TOL)  # the compression did change the weights
