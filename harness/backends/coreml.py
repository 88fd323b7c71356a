"""Real CoreML predictions through `MLModel.predict`: macOS only.

Elsewhere the backend reports why it is unavailable, and the harness checks the
`.mlpackage` itself instead (`harness.coreml_artifact`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from harness.backends.base import Backend, in_batches, in_sequences
from harness.compute_units import COMPUTE_UNITS
from harness.errors import UsageError
from harness.export.manifest import Manifest
from harness.shapes import parse
from harness.spec import ModelSpec, initial_values

__all__ = ["COMPUTE_UNITS", "CoreMLBackend"]


class CoreMLBackend(Backend):
    name = "coreml"
    precisions = ("fp32", "fp16")
    option = "compute_units"
    variants = (("fp32", None), ("fp16", None))

    def __init__(self, precision: str = "fp32", compute_units: str = "ALL"):
        super().__init__(precision)
        if compute_units.upper() not in COMPUTE_UNITS:
            raise UsageError(f"unknown compute units {compute_units!r}; "
                             f"known: {', '.join(COMPUTE_UNITS)}")
        self.compute_units = compute_units.upper()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if sys.platform != "darwin":
            return f"MLModel.predict needs macOS; this is {sys.platform}"
        try:
            from harness.quiet import coremltools

            coremltools()
            import coremltools.libcoremlpython  # noqa: F401
        except ImportError as err:
            return f"coremltools' native runtime is missing ({err})"
        return None

    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None:
        import coremltools as ct

        from harness.mlpackage import weights_sha256

        artifact = manifest.artifact("coreml", self.precision)
        # CoreML follows the package manifest: weights_sha256 checks it first
        self.loaded_weights_sha256 = weights_sha256(folder / artifact.path)
        self.model = ct.models.MLModel(str(folder / artifact.path),
                                       compute_units=getattr(ct.ComputeUnit, self.compute_units))
        self.spec, self.batch = spec, parse(manifest.batch)
        self.initial = initial_values(spec, spec.build()) if spec.stateful else {}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The cases in batches the export accepts (`MLModel.predict` refuses any other); a stateful model's
        cases as sequences of calls, each from `make_state()` with the model's initial buffer values written."""
        inputs = {t.name: np.asarray(feeds[t.name], dtype=np.float32) for t in self.spec.inputs}
        if self.spec.stateful:
            return in_sequences(self.spec.steps, inputs, self._fresh_state, self._predict)
        return in_batches(self.batch, inputs, lambda one: self._predict(None, one))

    def _fresh_state(self):
        state = self.model.make_state()  # zeros
        for name, value in self.initial.items():
            state.write_state(name, value.astype(np.float16))  # Core ML states hold float16
        return state

    def _predict(self, state, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.model.predict(feeds) if state is None else self.model.predict(feeds, state=state)
        return {t.name: np.asarray(out[t.name], dtype=np.float32) for t in self.spec.outputs}
