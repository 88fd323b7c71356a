"""Activation ops against torch.nn.functional (or the op's one-line formula in float64 where torch has none)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import FP32_TOL, SEEDS, op_settings, rand, t

PARAMS = st.floats(-2, 2, allow_subnormal=False).map(np.float32)


@pytest.mark.parametrize("name, ref", [
    ("relu6", F.relu6), ("silu", F.silu), ("softplus", F.softplus), ("softsign", F.softsign),
])
@op_settings
@given(seed=SEEDS)
def test_parameterless_activation_matches_torch(run_mil, name, ref, seed):
    x = rand(seed, 3, 17, scale=8.0)
    np.testing.assert_allclose(run_mil(lambda x: getattr(mb, name)(x=x), {"x": x}), ref(t(x)).numpy(), **FP32_TOL)


def test_softplus_stays_finite_for_large_inputs(run_mil):
    x = np.array([-200.0, -90.0, 0.0, 90.0, 200.0], np.float32)
    got = run_mil(lambda x: mb.softplus(x=x), {"x": x})
    np.testing.assert_allclose(got, F.softplus(t(x)).numpy(), rtol=1e-6)


@op_settings
@given(seed=SEEDS, alpha=PARAMS)
def test_elu_and_leaky_relu_match_torch(run_mil, seed, alpha):
    x = rand(seed, 4, 9, scale=3.0)
    elu, leaky = run_mil(lambda x: (mb.elu(x=x, alpha=alpha), mb.leaky_relu(x=x, alpha=alpha)), {"x": x})
    np.testing.assert_allclose(elu, F.elu(t(x), alpha=float(alpha)).numpy(), **FP32_TOL)
    np.testing.assert_allclose(leaky, F.leaky_relu(t(x), float(alpha)).numpy(), **FP32_TOL)


@op_settings
@given(seed=SEEDS, alpha=PARAMS)
def test_thresholded_relu_keeps_values_at_or_above_alpha(run_mil, seed, alpha):
    x = np.concatenate([rand(seed, 20, scale=2.0), [alpha]]).astype(np.float32)
    got = run_mil(lambda x: mb.thresholded_relu(x=x, alpha=alpha), {"x": x})
    np.testing.assert_array_equal(got, F.threshold(t(x), float(np.nextafter(alpha, -np.inf)), 0.0).numpy())


@op_settings
@given(seed=SEEDS, alpha=PARAMS, beta=PARAMS)
def test_two_parameter_activations_match_their_formulas(run_mil, seed, alpha, beta):
    x = rand(seed, 3, 11, scale=4.0)
    xd = t(x).double()

    def build(x):
        return (mb.clamped_relu(x=x, alpha=alpha, beta=abs(beta)), mb.linear_activation(x=x, alpha=alpha, beta=beta),
                mb.scaled_tanh(x=x, alpha=alpha, beta=beta), mb.sigmoid_hard(x=x, alpha=alpha, beta=beta))

    clamped, linear, scaled, hard = run_mil(build, {"x": x})
    a, b = float(alpha), float(beta)
    np.testing.assert_allclose(clamped, torch.clamp(torch.where(xd >= 0, xd, a * xd), max=abs(b)).numpy(), **FP32_TOL)
    np.testing.assert_allclose(linear, (a * xd + b).numpy(), **FP32_TOL)
    np.testing.assert_allclose(scaled, (a * torch.tanh(b * xd)).numpy(), **FP32_TOL)
    np.testing.assert_allclose(hard, torch.clamp(a * xd + b, 0, 1).numpy(), **FP32_TOL)


@op_settings
@given(seed=SEEDS, rank=st.sampled_from([3, 4, 5]))
def test_prelu_takes_one_slope_per_channel(run_mil, seed, rank):
    """Rank 3 and 5 take one slope for every channel (coremltools refuses differing ones there)."""
    x = rand(seed, *([2, 3] + [4] * (rank - 2)), scale=3.0)
    alpha = rand(seed + 1, 3) if rank == 4 else np.full(3, rand(seed + 1, 1)[0], np.float32)
    got = run_mil(lambda x: mb.prelu(x=x, alpha=alpha), {"x": x})
    np.testing.assert_allclose(got, F.prelu(t(x), t(alpha)).numpy(), **FP32_TOL)


@op_settings
@given(seed=SEEDS)
def test_softplus_parametric_per_channel(run_mil, seed):
    x = rand(seed, 2, 3, 4, 5, scale=3.0)
    alpha, beta = np.abs(rand(seed + 1, 3)) + 0.1, np.abs(rand(seed + 2, 3)) + 0.1
    got = run_mil(lambda x: mb.softplus_parametric(x=x, alpha=alpha, beta=beta), {"x": x})
    a, b = t(alpha).double().reshape(1, 3, 1, 1), t(beta).double().reshape(1, 3, 1, 1)
    np.testing.assert_allclose(got, (a * torch.log1p(torch.exp(b * t(x).double()))).numpy(), rtol=1e-5, atol=1e-5)
