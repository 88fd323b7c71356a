"""Elementwise unary and binary ops against torch (math's double-precision erf for erf)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import FP32_TOL, SEEDS, op_settings, rand, t

SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def uniform(seed, shape, lo, hi):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)


#: op -> (torch reference, input range): ranges keep each function inside its domain and finite.
UNARY = {
    "abs": (torch.abs, (-5, 5)), "acos": (torch.acos, (-1, 1)), "asin": (torch.asin, (-1, 1)),
    "atan": (torch.atan, (-9, 9)), "atanh": (torch.atanh, (-0.99, 0.99)), "ceil": (torch.ceil, (-5, 5)),
    "cos": (torch.cos, (-6, 6)), "cosh": (torch.cosh, (-8, 8)), "exp": (torch.exp, (-8, 8)),
    "exp2": (torch.exp2, (-8, 8)), "floor": (torch.floor, (-5, 5)), "round": (torch.round, (-5, 5)),
    "sign": (torch.sign, (-5, 5)), "sin": (torch.sin, (-6, 6)), "sinh": (torch.sinh, (-8, 8)),
    "sqrt": (torch.sqrt, (0, 50)), "square": (torch.square, (-9, 9)), "tan": (torch.tan, (-1.4, 1.4)),
    "tanh": (torch.tanh, (-6, 6)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@op_settings
@given(seed=SEEDS, shape=SHAPES)
def test_unary_op_matches_torch(run_mil, name, seed, shape):
    ref, (lo, hi) = UNARY[name]
    x = uniform(seed, shape, lo, hi)
    if name == "round":
        x = np.round(x * 2).astype(np.float32) / 2  # exact halves: ties go to even
    got = run_mil(lambda x: getattr(mb, name)(x=x), {"x": x})
    np.testing.assert_allclose(got, ref(t(x)).numpy(), rtol=2e-6, atol=1e-6)


def test_erf_matches_double_precision_erf(run_mil):
    x = np.linspace(-4, 4, 97, dtype=np.float32)
    got = run_mil(lambda x: mb.erf(x=x), {"x": x})
    np.testing.assert_allclose(got, [math.erf(float(v)) for v in x], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, ref", [("abs", np.abs), ("sign", np.sign), ("square", np.square)])
@op_settings
@given(seed=SEEDS)
def test_unary_int32_ops_stay_integers(run_mil, name, ref, seed):
    x = np.random.default_rng(seed).integers(-1000, 1000, size=(3, 4)).astype(np.int32)
    got = run_mil(lambda x: getattr(mb, name)(x=x), {"x": x})
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref(x))


@pytest.mark.parametrize("name, eps, ref", [
    ("inverse", 1e-4, torch.reciprocal), ("log", 1e-45, torch.log), ("rsqrt", 1e-12, torch.rsqrt),
])
@op_settings
@given(seed=SEEDS, explicit=st.booleans())
def test_epsilon_ops_add_epsilon_first(run_mil, name, eps, ref, seed, explicit):
    """inverse, log and rsqrt act on x + epsilon, a float32 sum; epsilon defaults per the op's spec."""
    x = uniform(seed, (4, 5), 0.01, 20)
    e = np.float32(0.5) if explicit else np.float32(eps)
    kwargs = {"epsilon": e} if explicit else {}
    got = run_mil(lambda x: getattr(mb, name)(x=x, **kwargs), {"x": x})
    want = ref((t(x) + t(e)).double()).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_log_of_zero_is_finite_thanks_to_the_default_epsilon(run_mil):
    got = run_mil(lambda x: mb.log(x=x), {"x": np.zeros(3, np.float32)})
    assert np.isfinite(got).all() and (got < -100).all()


@op_settings
@given(seed=SEEDS, alpha=st.floats(-1, 1))
def test_threshold_is_a_lower_bound(run_mil, seed, alpha):
    x = rand(seed, 3, 7)
    got = run_mil(lambda x: mb.threshold(x=x, alpha=np.float32(alpha)), {"x": x})
    np.testing.assert_array_equal(got, torch.clamp(t(x), min=float(np.float32(alpha))).numpy())


BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "real_div": torch.div, "maximum": torch.maximum,
    "minimum": torch.minimum, "floor_div": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "mod": torch.remainder, "pow": torch.pow,
}
COMPARE = {"equal": torch.eq, "not_equal": torch.ne, "greater": torch.gt, "greater_equal": torch.ge,
           "less": torch.lt, "less_equal": torch.le}
BROADCASTS = st.sampled_from([((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((1,), (2, 2))])


@pytest.mark.parametrize("name", sorted(BINARY))
@op_settings
@given(seed=SEEDS, shapes=BROADCASTS)
def test_binary_op_matches_torch_with_broadcasting(run_mil, name, seed, shapes):
    a = rand(seed, *shapes[0], scale=3.0)
    b = rand(seed + 1, *shapes[1], scale=3.0)
    if name == "pow":
        a = np.abs(a) + np.float32(0.1)
    if name in ("real_div", "floor_div", "mod"):
        b = np.where(np.abs(b) < 0.1, np.float32(0.5), b).astype(np.float32)
    got = run_mil(lambda x, y: getattr(mb, name)(x=x, y=y), {"x": a, "y": b})
    np.testing.assert_allclose(got, BINARY[name](t(a), t(b)).numpy(), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum", "minimum", "floor_div", "mod"])
@op_settings
@given(seed=SEEDS)
def test_binary_int32_ops_are_exact(run_mil, name, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-500, 500, size=(3, 4)).astype(np.int32)
    b = rng.integers(1, 40, size=(4,)).astype(np.int32) * rng.choice([-1, 1], size=(4,)).astype(np.int32)
    got = run_mil(lambda x, y: getattr(mb, name)(x=x, y=y), {"x": a, "y": b})
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, BINARY[name](t(a), t(b)).numpy())


@pytest.mark.parametrize("name", sorted(COMPARE))
@op_settings
@given(seed=SEEDS, ints=st.booleans())
def test_comparisons_match_torch(run_mil, name, seed, ints):
    rng = np.random.default_rng(seed)
    a = rng.integers(-3, 3, size=(3, 4))
    b = rng.integers(-3, 3, size=(4,))  # small integers: plenty of ties
    a, b = (a.astype(np.int32), b.astype(np.int32)) if ints else (a.astype(np.float32), b.astype(np.float32))
    got = run_mil(lambda x, y: getattr(mb, name)(x=x, y=y), {"x": a, "y": b})
    np.testing.assert_array_equal(got, COMPARE[name](t(a), t(b)).numpy())


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
@op_settings
@given(seed=SEEDS)
def test_logical_ops_on_bools(run_mil, name, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, size=(3, 4)).astype(bool), rng.integers(0, 2, size=(1, 4)).astype(bool)
    got = run_mil(lambda x, y: getattr(mb, name)(x=x, y=y), {"x": a, "y": b})
    np.testing.assert_array_equal(got, getattr(torch, name)(t(a), t(b)).numpy())


def test_logical_not(run_mil):
    a = np.array([[True, False, True]])
    np.testing.assert_array_equal(run_mil(lambda x: mb.logical_not(x=x), {"x": a}), ~a)


def test_elementwise_tolerance_is_the_fp32_policy():
    assert FP32_TOL["rtol"] >= 2e-6  # the looser bounds above stay within the fp32 policy
