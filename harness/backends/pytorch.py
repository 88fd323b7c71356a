"""Eager PyTorch on CPU: the reference every other backend is compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.backends.base import Backend
from harness.errors import HarnessError
from harness.export.manifest import Manifest
from harness.spec import ModelSpec, weights_sha256


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

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feeds[t.name], dtype=np.dtype(t.dtype)))
                for t in self.spec.inputs]
        with torch.inference_mode():
            out = self.module(*args)
        out = out if isinstance(out, tuple | list) else (out,)
        return {t.name: o.numpy() for t, o in zip(self.spec.outputs, out, strict=True)}
