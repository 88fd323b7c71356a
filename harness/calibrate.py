"""Make an untrained network's outputs mean something before judging its parity.

A randomly initialised net with BatchNorm keeps the layer's initial running statistics
(mean 0, variance 1) while its activations drift by orders of magnitude from layer to layer,
so its outputs end up around 1e-9: every backend "agrees" on numbers that prove nothing.
Re-estimating the BatchNorm statistics on realistic inputs (as one would after pruning or
fine-tuning) gives outputs of order 1 at the same weights, and decisions worth judging.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def recalibrate_batchnorm(module: nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> nn.Module:
    """Replace every BatchNorm's running statistics by the exact averages over `batches`.

    Returns `module` in eval mode; weights are untouched. A module without BatchNorm is
    returned as it is.
    """
    norms = [m for m in module.modules() if isinstance(m, _NORMS)]
    if not norms:
        return module.eval()
    saved = {m: m.momentum for m in norms}
    module.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: every batch counts alike
        m.train()
    with torch.no_grad():
        for batch in batches:
            module(*batch)
    for m, momentum in saved.items():
        m.momentum = momentum
    return module.eval()


def output_scale(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> float:
    """The largest |output| of `module` on `batch`: near zero means a vacuous comparison."""
    with torch.no_grad():
        out = module(*batch)
    outs = out if isinstance(out, tuple | list) else (out,)
    return float(max(np.abs(o.numpy()).max() for o in outs))
