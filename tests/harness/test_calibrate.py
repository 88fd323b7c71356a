"""harness.calibrate: BatchNorm statistics re-estimated on inputs, the same bits wherever they are measured.

Other machines are simulated in tests/test_determinism.py; here, noise of the size they add is
added by hand, and the statistics must not move.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.calibrate import on_grid, output_scale, recalibrate_batchnorm
from harness.exact_random import ExactGenerator
from harness.spec import seeded_init


def _net():
    return seeded_init(lambda: nn.Sequential(nn.Conv1d(3, 8, 3, bias=False), nn.BatchNorm1d(8),
                                             nn.Conv1d(8, 4, 1, bias=False), nn.BatchNorm1d(4), nn.ReLU()))


def _inputs(scale: float = 1.0):
    return torch.from_numpy(ExactGenerator(0).normal(5.0, scale, (64, 3, 32)).astype(np.float32))


def test_statistics_moved_by_float64_noise_round_to_the_same_bits():
    rng = np.random.default_rng(0)
    var = rng.uniform(1e-3, 1e3, 10_000)
    mean = rng.normal(0, 1, 10_000) * np.sqrt(var)
    for relative in (3e-14, -3e-14, 1e-15):  # the largest move measured across machines, and a typical one
        moved = var * (1 + relative)
        assert on_grid(moved, moved).tobytes() == on_grid(var, var).tobytes()
        spread = np.sqrt(on_grid(var, var))
        assert on_grid(mean + relative * spread, spread).tobytes() == on_grid(mean, spread).tobytes()


def test_a_mean_whose_exact_value_is_zero_rounds_to_plus_zero():
    noise = np.array([1e-16, -1e-16, -3e-17, 0.0, -0.0])
    assert on_grid(noise, np.ones(5)).tobytes() == np.zeros(5).tobytes()  # +0.0, never -0.0


def test_recalibrated_statistics_are_the_channels_so_normalised_outputs_are_standard():
    net, x = _net(), _inputs(scale=30.0)
    recalibrate_batchnorm(net, [(x,)])
    norm = net[1]
    with torch.no_grad():
        h = net[0](x).double()
        normalised = net[:2](x).double()
    spread = h.var(dim=(0, 2)).sqrt()  # unbiased, as torch keeps it; the grid is 2^-16 of it, give or take 2
    assert ((norm.running_mean.double() - h.mean(dim=(0, 2))).abs() <= 2**-15 * spread).all()
    assert ((norm.running_var.double() - spread**2).abs() <= 2**-15 * spread**2).all()
    assert int(norm.num_batches_tracked) == 1 and not net.training
    assert normalised.mean(dim=(0, 2)).abs().max() < 1e-3 and (normalised.std(dim=(0, 2)) - 1).abs().max() < 1e-3
    assert 0.1 < output_scale(net, (x,)) < 10


def test_the_second_normalisations_mean_is_exactly_zero():
    """A bias-free convolution of a normalised (beta = 0) input has mean 0: measured, it is float noise."""
    net = recalibrate_batchnorm(_net(), [(_inputs(),)])
    assert net[3].running_mean.numpy().tobytes() == np.zeros(4, np.float32).tobytes()


def test_a_module_that_cannot_run_in_float64_is_measured_in_its_own_precision():
    class MadeInForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm1d(3)

        def forward(self, x):
            return self.norm(x + torch.ones(3, 1, dtype=torch.float32))  # float32 made here: float64 x fails

    net = recalibrate_batchnorm(MadeInForward(), [(_inputs(),)])
    assert abs(float(net.norm.running_mean.mean()) - 6.0) < 0.2
