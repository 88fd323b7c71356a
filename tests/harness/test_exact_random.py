"""harness.exact_random: numpy-like draws made of integers and exact roundings, and torch inits drawn from them.

That the bits are the same on other machines is tested where other machines are simulated
(tests/test_determinism.py); here, that the draws are what their names promise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from harness.exact_random import ExactGenerator, exact_torch_draws
from harness.spec import seeded_init, weights_sha256

sizes = st.one_of(st.none(), st.integers(0, 5), st.lists(st.integers(0, 4), max_size=3).map(tuple))


@given(size=sizes, method=st.sampled_from(["random", "uniform", "normal", "standard_normal", "exponential",
                                           "standard_exponential"]))
def test_every_draw_has_the_shape_and_type_numpy_gives(size, method):
    ours, numpys = getattr(ExactGenerator(1), method)(size=size), getattr(np.random.default_rng(1), method)(size=size)
    assert type(ours) is type(numpys) and np.shape(ours) == np.shape(numpys)


@given(loc=st.lists(st.floats(-10, 10), min_size=1, max_size=4))
def test_array_parameters_broadcast_like_numpy(loc):
    assert np.shape(ExactGenerator(0).normal(loc, 2.0)) == np.shape(np.random.default_rng(0).normal(loc, 2.0))
    assert np.shape(ExactGenerator(0).uniform(loc, 20.0)) == (len(loc),)


def test_the_same_seed_gives_the_same_bits_and_another_seed_others():
    a, b, c = (ExactGenerator(s).normal(size=1000) for s in (5, 5, 6))
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


def test_the_distributions_have_the_moments_their_names_promise():
    g = ExactGenerator(0)
    z = g.normal(3.0, 2.0, 200_000)
    assert abs(z.mean() - 3.0) < 0.02 and abs(z.std() - 2.0) < 0.02 and np.abs(z - 3.0).max() <= 12.0
    u = g.uniform(-2.0, 6.0, 200_000)
    assert u.min() >= -2.0 and u.max() < 6.0 and abs(u.mean() - 2.0) < 0.03
    e = g.exponential(1.5, 20_000)
    assert e.min() >= 0.0 and abs(e.mean() - 1.5) < 0.05 and abs(np.median(e) - 1.5 * np.log(2)) < 0.05


def test_a_normal_value_is_a_whole_number_of_2_to_the_minus_16_within_six():
    """An Irwin-Hall sum of 12 16-bit integers: exact in binary64 whatever order it is added in."""
    z = ExactGenerator(3).standard_normal(100_000)
    assert np.array_equal(np.ldexp(z, 16), np.rint(np.ldexp(z, 16))) and np.abs(z).max() < 6.0


def test_integer_draws_are_numpys_own():
    assert ExactGenerator(4).integers(0, 1000, 50).tolist() == np.random.default_rng(4).integers(0, 1000, 50).tolist()


def test_torch_draws_inside_take_their_values_from_the_generator():
    with exact_torch_draws(ExactGenerator(7)):
        t = torch.randn(4, 5)
        u = torch.empty(3, dtype=torch.float64).uniform_(-1.0, 1.0)
        n = nn.init.normal_(torch.empty(1000), mean=2.0, std=0.5)
    assert np.array_equal(t.numpy(), ExactGenerator(7).standard_normal((4, 5)).astype(np.float32))
    assert u.min() >= -1 and u.max() < 1
    assert abs(float(n.mean()) - 2.0) < 0.1 and abs(float(n.std()) - 0.5) < 0.1
    assert torch.randn(3).dtype == torch.float32  # outside, torch's own generator again


def test_a_seeded_init_keeps_each_layers_scale():
    """PyTorch's default Linear init is uniform within 1/sqrt(fan_in); drawn exactly, it still is."""
    layer = seeded_init(lambda: nn.Linear(400, 30))
    bound, largest = 1 / np.sqrt(400), float(layer.weight.detach().abs().max())
    assert 0.9 * bound < largest <= bound
    assert weights_sha256(layer) == weights_sha256(seeded_init(lambda: nn.Linear(400, 30)))
    assert weights_sha256(layer) != weights_sha256(seeded_init(lambda: nn.Linear(400, 30), seed=1))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_draws_fill_tensors_of_every_float_dtype(dtype):
    with exact_torch_draws(ExactGenerator(0)):
        t = torch.empty(1000, dtype=dtype).uniform_(0.0, 1.0)
    assert t.dtype == dtype and 0.4 < float(t.double().mean()) < 0.6 and len(torch.unique(t)) > 50
