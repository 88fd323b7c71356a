"""Statistics measured by float kernels, made the same on every machine: an untrained network's BatchNorm
statistics, and the ranges an int8 quantizer observes while it calibrates.

A randomly initialised net with BatchNorm keeps the layer's initial running statistics
(mean 0, variance 1) while its activations drift by orders of magnitude from layer to layer,
so its outputs end up around 1e-9: every backend "agrees" on numbers that prove nothing.
Re-estimating the BatchNorm statistics on realistic inputs (as one would after pruning or
fine-tuning) gives outputs of order 1 at the same weights, and decisions worth judging.

Both are measured in float64 and rounded to a grid far coarser than any machine's rounding
(`on_grid`), so what they feed (weights' sha256, an int8 program's bytes) is the same everywhere.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


#: Significant bits a re-estimated statistic keeps, relative to its channel's spread (`on_grid`).
STATISTIC_BITS = 16


def recalibrate_batchnorm(module: nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> nn.Module:
    """Replace every BatchNorm's running statistics by the averages over `batches`.

    The same statistics, bit for bit, on every machine (so the weights' sha256 travels with the
    model): they are measured in float64 on a copy of the module, where another machine's
    kernels (SIMD width, thread count) moved them by at most 3.1e-14 of the channel's spread
    (docs/determinism.md), and rounded to a grid of 2^-16 of that spread, which such a move
    crosses with a probability of at most 2e-9 per statistic. A mean whose exact value is 0
    (a bias-free convolution of a normalised input) is float64 noise, and rounds to 0. A module
    that cannot run in float64 is measured in its own precision and rounded the same way.
    Returns `module` in eval mode; weights are untouched. A module without BatchNorm is
    returned as it is.
    """
    if not any(isinstance(m, _NORMS) for m in module.modules()):
        return module.eval()
    try:
        measured = _measure(copy.deepcopy(module).double(), batches, torch.float64)
    except (RuntimeError, TypeError):  # float32 made inside forward, a dtype-bound op: as it is
        measured = _measure(copy.deepcopy(module), batches, None)
    with torch.no_grad():
        for name, m in module.named_modules():
            if name in measured:
                mean, var, count = measured[name]
                m.running_var.copy_(torch.from_numpy(var))
                m.running_mean.copy_(torch.from_numpy(mean))
                m.num_batches_tracked.copy_(count)
    return module.eval()


def _measure(model: nn.Module, batches: list[tuple[torch.Tensor, ...]], dtype) -> dict[str, tuple]:
    """Each BatchNorm's (mean, variance, batches) over `batches`, as a cumulative average, on the grid."""
    model.eval()
    norms = {name: m for name, m in model.named_modules() if isinstance(m, _NORMS) and m.track_running_stats}
    for m in norms.values():
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: every batch counts alike
        m.train()
    with torch.no_grad():
        for batch in batches:
            model(*(t.to(dtype) if dtype is not None and t.is_floating_point() else t for t in batch))
    out = {}
    for name, m in norms.items():
        mean, var = (getattr(m, b).detach().double().numpy() for b in ("running_mean", "running_var"))
        var = on_grid(var, var)
        out[name] = (on_grid(mean, np.where(var > 0, np.sqrt(var), np.abs(mean))), var,
                     m.num_batches_tracked.clone())
    return out


def on_grid(values: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """`values` rounded to multiples of 2^(e - STATISTIC_BITS), where 2^(e-1) <= spread < 2^e; 0 where
    spread is 0, and never -0.0. Every step is exact (frexp, a power of two, rint), so equal inputs give
    equal bits."""
    _, exponent = np.frexp(spread)
    step = np.ldexp(1.0, exponent - STATISTIC_BITS)
    return np.where(spread > 0, np.rint(values / step) * step, 0.0) + 0.0  # -0.0 (noise below 0) is +0.0


def output_scale(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> float:
    """The largest |output| of `module` on `batch`: near zero means a vacuous comparison."""
    with torch.no_grad():
        out = module(*batch)
    outs = out if isinstance(out, tuple | list) else (out,)
    return float(max(np.abs(o.numpy()).max() for o in outs))


def observed_on_grid(module: nn.Module) -> None:
    """Every observer's range (`min_val`, `max_val`: a quantizer's calibration statistics) rounded to the grid
    of `on_grid`, relative to the larger of its two magnitudes, in place. Measured by float kernels (the model's
    activations), they moved by a few float32 ulps with the CPU, and with them the int8 program's scales and
    bytes; on the grid they move only when a value lies within that move of a grid point."""
    with torch.no_grad():
        for m in module.modules():
            low, high = getattr(m, "min_val", None), getattr(m, "max_val", None)
            if not (isinstance(low, torch.Tensor) and isinstance(high, torch.Tensor)) or not low.numel():
                continue
            lo, hi = low.detach().double().numpy(), high.detach().double().numpy()
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
                continue  # an observer that saw nothing keeps its initial +-inf
            spread = np.maximum(np.abs(lo), np.abs(hi))
            low.copy_(torch.from_numpy(np.asarray(on_grid(lo, spread))).to(low.dtype))
            high.copy_(torch.from_numpy(np.asarray(on_grid(hi, spread))).to(high.dtype))
