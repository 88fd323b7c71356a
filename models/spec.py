"""What the harness needs to know about a reference model, in one record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor at the model boundary; `None` in `shape` is the batch dimension."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def example(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros([batch if d is None else d for d in self.shape],
                           dtype=getattr(torch, self.dtype))


@dataclass(frozen=True)
class Cases:
    """A seeded batch of model inputs, with what produced each one (for reports and replay)."""

    inputs: np.ndarray  # float32, shaped as the model's input spec
    decision_mask: np.ndarray  # bool, shaped as the output: positions whose decision an app reads
    kinds: tuple[str, ...]  # generator that made each case, e.g. "realistic", "epoch_seconds"
    raw: tuple[np.ndarray, ...]  # what the app had before encoding (e.g. the [n, 2] points)
    seed: int

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class ModelSpec:
    """A reference model: how to build it, its contract, and how an app reads its output."""

    name: str
    description: str
    build: Callable[[], torch.nn.Module]  # returns the model in eval mode with its weights
    input: TensorSpec
    output: TensorSpec
    make_cases: Callable[[int, int], Cases]  # (count, seed) -> cases
    threshold: float  # an output above it is a positive decision
    weights_source: str  # e.g. "seeded random init (torch seed 0), untrained"
    trained: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


def seeded_init(cls: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """PyTorch's default init under a fixed seed, leaving the global generator as it was."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        module = cls()
    finally:
        torch.random.set_rng_state(state)
    return module.eval()


def weights_sha256(module: torch.nn.Module) -> str:
    """Content hash of a module's parameters and buffers (name, dtype, shape, bytes), in order."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def model_fingerprint(spec: ModelSpec, module: torch.nn.Module) -> str:
    """Hash of what an export depends on: the weights and the traced graph (code changes too)."""
    import hashlib
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        graph = torch.jit.trace(module, spec.input.example(batch=1)).inlined_graph
    import re

    # Drop source locations and the per-process mangling counter of traced class names.
    text = "\n".join(re.sub(r"___torch_mangle_\d+\.", "", line.split("#")[0].rstrip())
                     for line in str(graph).splitlines())
    return hashlib.sha256(f"{weights_sha256(module)}\n{text}".encode()).hexdigest()
