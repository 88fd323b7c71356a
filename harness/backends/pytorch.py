"""Eager PyTorch on CPU: the reference every other backend is compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.backends.base import Backend, in_sequences
from harness.errors import HarnessError
from harness.export.manifest import Manifest
from harness.spec import ModelSpec, initial_state, weights_sha256


class TorchBackend(Backend):
    name = "torch"

    @classmethod
    def of(cls, spec: ModelSpec) -> TorchBackend:
        """The eager model itself, needing no export (the reference of fixtures)."""
        backend = cls()
        backend.spec = spec
        backend.module = spec.build().eval()
        return backend

    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None:
        self.spec = spec
        self.module = spec.build().eval()
        if weights_sha256(self.module) != manifest.weights_sha256:
            raise HarnessError(f"{spec.name}: the model's weights differ from the exported ones "
                               f"(manifest {manifest.weights_sha256[:12]}); export again")

    measuring = False  # set by `run_measured` around its `run`: hooks cost time a benchmark would count
    activations: np.ndarray | None = None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.spec.stateful:
            return self._sequences(feeds)
        args = [torch.from_numpy(np.ascontiguousarray(feeds[t.name], dtype=np.dtype(t.dtype)))
                for t in self.spec.inputs]
        peak = ActivationPeak(self.module, len(args[0]) if self.measuring else 0)
        with torch.inference_mode(), peak:
            out = self.module(*args)
        self.activations = peak.values.numpy() if self.measuring else None
        out = out if isinstance(out, tuple | list) else (out,)
        # detached and copied: an output may view a parameter (which still requires grad under inference mode),
        # or be the caller's own input array
        return {t.name: o.detach().numpy().copy() for t, o in zip(self.spec.outputs, out, strict=True)}

    def _sequences(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each case's calls in order, the buffers set back to their initial values before each case (and after
        the last, so the module stays as it was built)."""
        with initial_state(self.spec, self.module) as initial:
            buffers = dict(self.module.named_buffers())

            def start() -> None:
                with torch.no_grad():
                    for name, value in initial.items():
                        buffers[name].copy_(value)

            def call(_state, one: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
                args = [torch.from_numpy(np.ascontiguousarray(one[t.name], dtype=np.dtype(t.dtype)))
                        for t in self.spec.inputs]
                with torch.inference_mode():
                    out = self.module(*args)
                out = out if isinstance(out, tuple | list) else (out,)  # copied: an output may view a buffer
                return {t.name: o.detach().numpy().copy() for t, o in zip(self.spec.outputs, out, strict=True)}

            return in_sequences(self.spec.steps, feeds, start, call)

    def run_measured(self, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """`run`, and per case the magnitude the model's layers saw (`ActivationPeak`); a stateful model's
        sequences are not measured (each call is a batch of its own), so outputs alone scale its allowances."""
        if self.spec.stateful:
            return self.run(feeds), None
        self.measuring = True
        try:
            return self.run(feeds), self.activations
        finally:
            self.measuring = False


class ActivationPeak:
    """Per case, the largest finite magnitude any module of `module` took in or gave out.

    Rounding in a sum is relative to its summands, so this is the scale of the rounding every
    other backend may add on that case: what the model's layers actually see, after its own
    clamps and normalisation, not the raw input (trendsplit clamps inputs of 1e5 to 100 before
    its first layer). Hooks on the leaf modules (the root's own when it has none); a tensor
    counts when its first dimension is the batch.
    """

    def __init__(self, module: torch.nn.Module, n: int):
        self.module, self.n = module, n
        self.values = torch.zeros(n, dtype=torch.float64)
        self.handles = []

    def _see(self, value) -> None:
        if isinstance(value, tuple | list):
            for v in value:
                self._see(v)
        elif (isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim() >= 1
              and value.shape[0] == self.n and value.numel() > 0):
            a = value.detach().abs().reshape(self.n, -1).double()
            a = torch.where(torch.isfinite(a), a, torch.zeros((), dtype=torch.float64))
            torch.maximum(self.values, a.amax(dim=1), out=self.values)

    def _hook(self, _module, inputs, output) -> None:  # None: the module's output is left as it is
        self._see(inputs)
        self._see(output)

    def __enter__(self) -> ActivationPeak:
        if not self.n:  # nothing to measure
            return self
        leaves = [m for m in self.module.modules() if next(m.children(), None) is None] or [self.module]
        self.handles = [m.register_forward_hook(self._hook) for m in leaves]
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
