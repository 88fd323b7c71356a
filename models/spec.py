"""What the harness needs to know about a reference model, in one record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

    feeds: dict[str, np.ndarray]  # input name -> batch, shaped and typed as the input spec
    decision_mask: np.ndarray | None  # bool, shaped as the decision output: what an app reads
    kinds: tuple[str, ...]  # generator that made each case, e.g. "realistic", "epoch_seconds"
    raw: tuple  # what the app had before encoding (e.g. the [n, 2] points); may be empty
    seed: int

    @property
    def inputs(self) -> np.ndarray:
        """The batch of a single-input model."""
        if len(self.feeds) != 1:
            raise ValueError(f"these cases feed {len(self.feeds)} inputs ({', '.join(self.feeds)}); use .feeds")
        return next(iter(self.feeds.values()))

    def __len__(self) -> int:
        return len(next(iter(self.feeds.values())))

    def take(self, index) -> dict[str, np.ndarray]:
        """The feeds of a subset of cases."""
        return {k: v[index] for k, v in self.feeds.items()}


#: How an app turns outputs into decisions: "threshold" (p > threshold, per element),
#: "argmax" (the class along the last axis), or "none" (numbers only).
DECISIONS = ("threshold", "argmax", "none")


@dataclass(frozen=True)
class ModelSpec:
    """A model the harness can export and check: how to build it, its contract, and how an app
    reads its output. The built-in models and users' own models are all described this way."""

    name: str
    description: str
    build: Callable[[], torch.nn.Module]  # returns the model in eval mode with its weights
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    make_cases: Callable[[int, int], Cases]  # (count, seed) -> cases
    threshold: float = 0.5  # with decision "threshold": an output above it is a positive decision
    weights_source: str = "as built"  # e.g. "seeded random init (torch seed 0), untrained"
    trained: bool = False
    decision: str = "threshold"
    decision_output: str | None = None  # which output the app decides on (default: the first)
    policy: str | None = None  # judge every pair by this named policy (default: by precision)

    @property
    def input(self) -> TensorSpec:
        if len(self.inputs) != 1:
            raise ValueError(f"model {self.name!r} has {len(self.inputs)} inputs")
        return self.inputs[0]

    @property
    def output(self) -> TensorSpec:
        if len(self.outputs) != 1:
            raise ValueError(f"model {self.name!r} has {len(self.outputs)} outputs")
        return self.outputs[0]

    @property
    def decided_output(self) -> str:
        return self.decision_output or self.outputs[0].name

    def examples(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        return tuple(t.example(batch) for t in self.inputs)


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
        graph = torch.jit.trace(module, spec.examples(batch=1)).inlined_graph
    import re

    # Drop source locations and the per-process mangling counter of traced class names.
    text = "\n".join(re.sub(r"___torch_mangle_\d+\.", "", line.split("#")[0].rstrip())
                     for line in str(graph).splitlines())
    return hashlib.sha256(f"{weights_sha256(module)}\n{text}".encode()).hexdigest()
