"""iOS17 activation quantization (quantize, dequantize) against numpy's reading of the spec, coremltools' own
value inference, and torch's quantized tensors converted for real."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.optimize import _utils as optimize_utils
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand

IOS17 = ct.target.iOS17
RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def params(rng, x, axis, dtype, with_zero_point):
    """scale (and zero point) as scalars (axis None) or vectors along `axis`."""
    n = 1 if axis is None else x.shape[axis]
    scale = (rng.random(n) * 0.2 + 0.01).astype(np.float32)
    low, high = RANGES[dtype]
    zp = rng.integers(low, high + 1, size=n).astype(dtype) if with_zero_point else None
    if axis is None:
        return scale[0], None if zp is None else zp[0]
    return scale, zp


def broadcast(p, x, axis):
    return p if axis is None or p is None else optimize_utils.promote_rank_to_same_as_data(p, x, axis)


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([None, 0, 1, -1]), dtype=st.sampled_from(list(RANGES)),
       with_zero_point=st.booleans(), spread=st.sampled_from([0.5, 5, 50]))
def test_quantize_rounds_scales_shifts_and_clips(run_mil, seed, axis, dtype, with_zero_point, spread):
    rng = np.random.default_rng(seed)
    x = rand(seed, 2, 3, 4, scale=spread)
    scale, zp = params(rng, x, axis, dtype, with_zero_point)

    def build(x):  # int8 is no program output type: dequantize with scale 1 carries q out exactly
        q = mb.quantize(input=x, scale=scale, zero_point=zp, axis=axis, output_dtype=dtype)
        return mb.dequantize(input=q, scale=np.float32(1))

    got = run_mil(build, {"x": x}, opset=IOS17)
    s, z = broadcast(scale, x, axis), broadcast(zp, x, axis)
    want = np.clip(np.round(x / s) + (0 if zp is None else z.astype(np.float32)), *RANGES[dtype])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, optimize_utils.quantize_by_scale_and_zp(x, s, z, dtype))


def test_quantize_rounds_ties_to_even(run_mil):
    """The assumption in op_quantize.py: numpy's (and torch's) round half to even."""
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 127.5, -128.5], np.float32)
    got = run_mil(lambda x: mb.dequantize(input=mb.quantize(input=x, scale=np.float32(1), output_dtype="int8"),
                                          scale=np.float32(1)), {"x": x}, opset=IOS17)
    np.testing.assert_array_equal(got, [0, 2, 2, 0, -2, -2, 0, 127, -128])


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([None, 0, 2]), dtype=st.sampled_from(list(RANGES)),
       with_zero_point=st.booleans(), out=st.sampled_from([np.float32, np.float16]))
def test_dequantize_is_scale_times_input_minus_zero_point(run_mil, seed, axis, dtype, with_zero_point, out):
    rng = np.random.default_rng(seed)
    low, high = RANGES[dtype]
    q = rng.integers(low, high + 1, size=(3, 2, 5)).astype(dtype)
    scale, zp = params(rng, q, axis, dtype, with_zero_point)
    scale = np.asarray(scale).astype(out)

    def build(x):  # q enters as a runtime value: quantize with scale 1 gives it back exactly
        return mb.dequantize(input=mb.quantize(input=x, scale=np.float32(1), output_dtype=dtype), scale=scale,
                             zero_point=zp, axis=axis)

    got = run_mil(build, {"x": q.astype(np.float32)}, opset=IOS17)
    want = optimize_utils.dequantize_by_scale_and_zp(q, broadcast(scale, q, axis), broadcast(zp, q, axis))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == out


class Quantized(torch.nn.Module):
    """torch's quantized tensors, per tensor and per channel: coremltools lowers them to quantize / dequantize."""

    def __init__(self, scales, zero_points):
        super().__init__()
        self.scales, self.zero_points = scales, zero_points

    def forward(self, x):
        a = torch.quantize_per_tensor(x, 0.07, 3, torch.quint8).dequantize()
        b = torch.quantize_per_channel(x, self.scales, self.zero_points, 1, torch.qint8).dequantize()
        return a, b


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_quantized_tensors_converted_at_ios17_match_torch_exactly(seed):
    from harness.mil import Interpreter, get_profile, load_program

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 6, generator=g) * 4
    model = Quantized(torch.rand(4, generator=g) * 0.2 + 0.01, torch.randint(-20, 20, (4,), generator=g)).eval()
    traced = torch.jit.trace(model, x)
    converted = ct.convert(traced, inputs=[ct.TensorType(shape=x.shape)], minimum_deployment_target=IOS17,
                           compute_precision=ct.precision.FLOAT32)
    program = load_program(converted.package_path)
    assert {"quantize", "dequantize"} <= program.op_types()
    got = Interpreter(program, get_profile("fp32")).run({program.inputs[0][0]: x.numpy()}).outputs
    for out, ref in zip(got.values(), model(x), strict=True):
        np.testing.assert_array_equal(out, ref.numpy())
