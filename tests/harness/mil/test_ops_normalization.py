"""Normalization ops and reductions against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand, t

NORM_TOL = dict(rtol=1e-4, atol=1e-5)


@op_settings
@given(seed=SEEDS, rank=st.sampled_from([3, 4, 5]), affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3]))
def test_batch_norm_matches_torch_inference(run_mil, seed, rank, affine, eps):
    x = rand(seed, *([2, 3] + [4] * (rank - 2)), scale=3.0)
    mean, var = rand(seed + 1, 3), np.abs(rand(seed + 2, 3)) + 0.5
    g, b = rand(seed + 3, 3), rand(seed + 4, 3)
    got = run_mil(lambda x: mb.batch_norm(x=x, mean=mean, variance=var, gamma=g if affine else None,
                                          beta=b if affine else None, epsilon=np.float32(eps)), {"x": x})
    ref = F.batch_norm(t(x), t(mean), t(var), t(g) if affine else None, t(b) if affine else None, training=False,
                       eps=eps)
    np.testing.assert_allclose(got, ref.numpy(), **NORM_TOL)


@op_settings
@given(seed=SEEDS, rank=st.sampled_from([3, 4]), affine=st.booleans())
def test_instance_norm_matches_torch(run_mil, seed, rank, affine):
    x = rand(seed, *([2, 3] + [5] * (rank - 2)), scale=3.0)
    g, b = rand(seed + 1, 3), rand(seed + 2, 3)
    got = run_mil(lambda x: mb.instance_norm(x=x, gamma=g if affine else None, beta=b if affine else None,
                                             epsilon=np.float32(1e-5)), {"x": x})
    ref = F.instance_norm(t(x), weight=t(g) if affine else None, bias=t(b) if affine else None, eps=1e-5)
    np.testing.assert_allclose(got, ref.numpy(), **NORM_TOL)


@op_settings
@given(seed=SEEDS, rank=st.sampled_from([3, 4, 5]))
def test_l2_norm_normalizes_the_last_three_axes_per_batch(run_mil, seed, rank):
    x = rand(seed, *([2] * (rank - 3) + [3, 4, 5]))
    got = run_mil(lambda x: mb.l2_norm(x=x, epsilon=np.float32(1e-6)), {"x": x})
    flat = t(x).double().reshape(-1, 60)
    ref = (flat / torch.sqrt((flat**2).sum(-1, keepdim=True) + 1e-6)).reshape(x.shape)
    np.testing.assert_allclose(got, ref.numpy(), **NORM_TOL)


def _torch_lrn_over_axis_minus_3(x, size, alpha, beta, k):
    """torch's LRN with axis -3 as the channels: leading axes folded into one batch axis, (B, C, H, W) for torch."""
    folded = t(x).reshape(-1, *x.shape[-3:])
    return torch.nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)(folded).reshape(x.shape).numpy()


@op_settings
@given(seed=SEEDS, lead=st.lists(st.integers(1, 3), max_size=2), chw=st.tuples(*[st.integers(1, 6)] * 3),
       size=st.sampled_from([1, 2, 3, 4, 5]), alpha=st.sampled_from([1e-4, 1e-2, 1.0]),
       beta=st.sampled_from([0.75, 1.0]), k=st.sampled_from([1.0, 2.0]))
def test_local_response_norm_windows_over_axis_minus_3_for_every_rank(run_mil, seed, lead, chw, size, alpha, beta,
                                                                       k):
    """Ranks 3 to 5: Core ML's LRN treats axis -3 as channels and everything before it as batch."""
    x = rand(seed, *lead, *chw, scale=3.0)
    got = run_mil(lambda x: mb.local_response_norm(x=x, size=size, alpha=np.float32(alpha), beta=np.float32(beta),
                                                   k=np.float32(k)), {"x": x})
    np.testing.assert_allclose(got, _torch_lrn_over_axis_minus_3(x, size, alpha, beta, k), **NORM_TOL)


def test_local_response_norm_on_rank_3_gives_coremltools_device_values(run_mil):
    """The values coremltools' smoke test (iOS14 TestNormalizationLocalResponseNorm) expects on devices.

    x is (1, 3, 2): axis -3 has length 1, so each value is normalized by its own square alone.
    """
    x = np.array([[[1.0, -7.0], [5.0, -6.0], [-3.0, -5.0]]], dtype=np.float32)
    got = run_mil(lambda x: [mb.local_response_norm(x=x, size=2),
                             mb.local_response_norm(x=x, size=3, alpha=0.0001, beta=0.75, k=1.0)], {"x": x})
    apple = [[[[0.99996257, -6.98716545], [4.99531746, -5.99191284], [-2.99898791, -4.99531746]]],
             [[[0.99997497, -6.99143696], [4.99687672, -5.99460602], [-2.99932504, -4.99687672]]]]
    for out, ref in zip(got, apple, strict=True):
        np.testing.assert_allclose(out, np.array(ref, dtype=np.float32), rtol=1e-5, atol=1e-4)  # Apple's tolerance


def test_local_response_norm_below_rank_3_is_unsupported(run_mil):
    from harness.mil.interpreter import UnsupportedOp

    with pytest.raises(UnsupportedOp, match="rank >= 3.*got rank 2"):
        run_mil(lambda x: mb.local_response_norm(x=x, size=3), {"x": rand(0, 4, 5)})


def test_torch_local_response_norm_on_4d_input_converts_and_matches_torch():
    """nn.LocalResponseNorm through ct.convert, the path torch users take (the frontend lowers it to pad/avg_pool)."""
    import coremltools as ct

    from harness.mil import Interpreter, get_profile, load_program

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 7, 1), torch.nn.LocalResponseNorm(4, alpha=0.5, beta=0.75, k=2.0))
    net = net.eval()
    x = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(3)) * 3
    model = ct.convert(torch.jit.trace(net, x), inputs=[ct.TensorType(shape=x.shape)], convert_to="mlprogram",
                       minimum_deployment_target=ct.target.iOS15, compute_precision=ct.precision.FLOAT32,
                       skip_model_load=True)
    program = load_program(model.package_path)
    got = Interpreter(program, get_profile("fp32")).run({program.inputs[0][0]: x.numpy()}).outputs
    with torch.no_grad():
        np.testing.assert_allclose(next(iter(got.values())), net(x).numpy(), **NORM_TOL)


AXES = st.sampled_from([None, [1], [2, 3], [-1], [0, 1, 2, 3], [0, -1]])


def _torch_axes(axes):
    return tuple(range(4)) if axes is None else tuple(axes)


REDUCTIONS = {
    "reduce_max": lambda x, d, k: torch.amax(x, dim=d, keepdim=k),
    "reduce_min": lambda x, d, k: torch.amin(x, dim=d, keepdim=k),
    "reduce_prod": lambda x, d, k: torch.from_numpy(np.asarray(np.prod(x.numpy(), axis=d, keepdims=k))),
    "reduce_l1_norm": lambda x, d, k: x.abs().sum(dim=d, keepdim=k),
    "reduce_l2_norm": lambda x, d, k: torch.sqrt((x * x).sum(dim=d, keepdim=k)),
    "reduce_sum_square": lambda x, d, k: (x * x).sum(dim=d, keepdim=k),
    "reduce_log_sum": lambda x, d, k: torch.log(x.sum(dim=d, keepdim=k)),
    "reduce_log_sum_exp": lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k),
    "reduce_mean": lambda x, d, k: x.mean(dim=d, keepdim=k),
    "reduce_sum": lambda x, d, k: x.sum(dim=d, keepdim=k),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@op_settings
@given(seed=SEEDS, axes=AXES, keep=st.booleans())
def test_reduction_matches_torch(run_mil, name, seed, axes, keep):
    x = rand(seed, 2, 3, 4, 5)
    if name == "reduce_log_sum":
        x = np.abs(x) + np.float32(0.1)
    if name == "reduce_prod":
        x = np.float32(1) + x / np.float32(4)
    kwargs = {} if axes is None else {"axes": axes}
    got = run_mil(lambda x: getattr(mb, name)(x=x, keep_dims=keep, **kwargs), {"x": x})
    ref = REDUCTIONS[name](t(x).double(), _torch_axes(axes), keep).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_reduce_log_sum_exp_stays_finite_for_large_inputs(run_mil):
    x = np.array([[1000.0, 999.0], [-1000.0, -1001.0]], np.float32)
    got = run_mil(lambda x: mb.reduce_log_sum_exp(x=x, axes=[1]), {"x": x})
    np.testing.assert_allclose(got, torch.logsumexp(t(x).double(), 1).numpy(), rtol=1e-6)


@pytest.mark.parametrize("name, ref", [("reduce_sum", torch.sum), ("reduce_max", torch.amax),
                                       ("reduce_min", torch.amin)])
def test_integer_reductions_are_exact(run_mil, name, ref):
    x = np.random.default_rng(0).integers(-10**6, 10**6, size=(3, 50)).astype(np.int32)
    got = run_mil(lambda x: getattr(mb, name)(x=x, axes=[1]), {"x": x})
    np.testing.assert_array_equal(got, ref(t(x), 1).numpy())


@pytest.mark.parametrize("name, ref", [("reduce_argmax", torch.argmax), ("reduce_argmin", torch.argmin)])
@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), keep=st.booleans())
def test_arg_reductions_match_torch(run_mil, name, ref, seed, axis, keep):
    x = rand(seed, 3, 4, 5)
    got = run_mil(lambda x: getattr(mb, name)(x=x, axis=axis, keep_dims=keep), {"x": x})
    np.testing.assert_array_equal(got, ref(t(x), dim=axis, keepdim=keep).numpy())
