"""iOS16 weight-compression ops (constexpr_*) against coremltools' own decompression, and a model compressed
with coremltools' optimize API."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil.ops.defs.iOS16 import constexpr_ops
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand


def _through_add(run_mil, make_weight, shape):
    """The decompressed constant, read back through an add with zeros (constexpr ops feed other ops)."""
    return run_mil(lambda x: mb.add(x=x, y=make_weight()), {"x": np.zeros(shape, np.float32)}, opset=ct.target.iOS16)


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1]), vector=st.booleans())
def test_constexpr_affine_dequantize_matches_coremltools(run_mil, seed, axis, vector):
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 256, size=(3, 4)).astype(np.uint8)
    n = q.shape[axis]
    zp = rng.integers(0, 256, size=n).astype(np.uint8) if vector else np.uint8(rng.integers(0, 256))
    scale = (rng.random(n) + 0.1).astype(np.float32) if vector else np.float32(0.25)
    got = _through_add(run_mil, lambda: mb.constexpr_affine_dequantize(quantized_data=q, zero_point=zp, scale=scale,
                                                                       axis=axis), q.shape)
    want = constexpr_ops.constexpr_affine_dequantize.decompress(q, zp, scale, axis)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@op_settings
@given(seed=SEEDS, nbits=st.sampled_from([1, 2, 4, 6, 8]))
def test_constexpr_lut_to_dense_matches_coremltools(run_mil, seed, nbits):
    from coremltools.optimize import _utils as optimize_utils

    rng = np.random.default_rng(seed)
    shape = (3, 5)
    lut = rng.normal(size=2**nbits).astype(np.float32)
    indices = rng.integers(0, 2**nbits, size=int(np.prod(shape))).astype(np.uint8)
    packed = optimize_utils.pack_elements_into_bits(indices, nbits)
    got = _through_add(run_mil, lambda: mb.constexpr_lut_to_dense(lut=lut, indices=packed,
                                                                  shape=np.array(shape, np.uint32)), shape)
    np.testing.assert_array_equal(got, constexpr_ops.constexpr_lut_to_dense.decompress(lut, packed, shape))
    np.testing.assert_array_equal(got, lut[indices].reshape(shape))


@op_settings
@given(seed=SEEDS, density=st.floats(0, 1))
def test_constexpr_sparse_to_dense_matches_coremltools(run_mil, seed, density):
    rng = np.random.default_rng(seed)
    dense = rand(seed, 4, 6) * (rng.random((4, 6)) < density)
    nonzero = dense[dense != 0]
    mask = np.packbits((dense != 0).reshape(-1), bitorder="little")
    if nonzero.size == 0:
        return  # coremltools refuses an all-zero tensor here
    got = _through_add(run_mil, lambda: mb.constexpr_sparse_to_dense(nonzero_data=nonzero, mask=mask,
                                                                     shape=np.array(dense.shape, np.uint32)),
                       dense.shape)
    np.testing.assert_array_equal(got, constexpr_ops.constexpr_sparse_to_dense.decompress(nonzero, mask, dense.shape))
    np.testing.assert_array_equal(got, dense)


def test_constexpr_cast_widens_fp16_weights(run_mil):
    w = np.array([[1.5, -2.25], [1e-3, 65504]], np.float16)
    got = _through_add(run_mil, lambda: mb.constexpr_cast(source_val=w, output_dtype="fp32"), w.shape)
    np.testing.assert_array_equal(got, w.astype(np.float32))


def test_a_palettized_and_a_quantized_torch_model_run_with_their_compressed_weights():
    """coremltools' optimize API compresses a converted model's weights; the interpreter decompresses them."""
    import coremltools.optimize.coreml as cto

    from harness.mil import Interpreter, get_profile, load_program

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()
    x = torch.randn(3, 16)
    model = ct.convert(torch.jit.trace(net, x), inputs=[ct.TensorType(shape=x.shape)], convert_to="mlprogram",
                       minimum_deployment_target=ct.target.iOS16, compute_precision=ct.precision.FLOAT32)
    small = dict(weight_threshold=0)
    compressed = {  # uniform palettes: k-means would need scikit-learn
        "constexpr_lut_to_dense": cto.palettize_weights(model, cto.OptimizationConfig(
            cto.OpPalettizerConfig(mode="uniform", nbits=6, **small))),
        "constexpr_affine_dequantize": cto.linear_quantize_weights(model, cto.OptimizationConfig(
            cto.OpLinearQuantizerConfig(**small))),
        "constexpr_sparse_to_dense": cto.prune_weights(model, cto.OptimizationConfig(
            cto.OpThresholdPrunerConfig(threshold=1e-3, minimum_sparsity_percentile=0.0, **small))),
    }
    ref = net(x).detach().numpy()
    for op, m in compressed.items():
        program = load_program(m.package_path)
        assert op in program.op_types()
        got = next(iter(Interpreter(program, get_profile("fp32")).run({program.inputs[0][0]: x.numpy()})
                        .outputs.values()))
        # what compression changes: 6-bit palettes, 8-bit steps, weights under 1e-3 zeroed
        np.testing.assert_allclose(got, ref, atol={"constexpr_lut_to_dense": 0.05, "constexpr_affine_dequantize": 0.01,
                                                   "constexpr_sparse_to_dense": 1e-3}[op], err_msg=op)
