"""The `.mlpackage` itself, executed by the MIL interpreter under a precision profile.

Runs anywhere, so CoreML-only numerical problems show up in CI on Linux. An emulation
and a bound (see `harness.mil.profiles`), not a device-exact result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.backends.base import Backend, in_batches, in_sequences
from harness.export.manifest import Manifest
from harness.mil import Interpreter, get_profile, load_program
from harness.mlpackage import weights_sha256
from harness.shapes import parse
from harness.spec import ModelSpec, initial_values


class EmulatedCoreMLBackend(Backend):
    name = "coreml-emulated"
    precisions = ("fp32", "fp16")
    option = "profile"
    variants = (("fp32", "fp32"), ("fp16", "fp16-storage"), ("fp16", "fp16"))

    def __init__(self, precision: str = "fp32", profile: str | None = None):
        super().__init__(precision)
        self.profile = get_profile(profile or precision).name

    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None:
        artifact = manifest.artifact("coreml", self.precision)
        self.program = load_program(Path(folder) / artifact.path)
        self.loaded_weights_sha256 = weights_sha256(Path(folder) / artifact.path)
        self.interpreter = Interpreter(self.program, get_profile(self.profile))
        self.spec, self.batch = spec, parse(manifest.batch)
        self.initial = initial_values(spec, spec.build()) if spec.stateful else {}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The cases in batches the export accepts, as CoreML would take them (a fixed batch's program may
        hold that batch in its constants); a stateful model's cases as sequences of calls, each from a fresh
        state holding the model's initial buffer values, as an app writes them into `makeState()`'s zeros."""
        if self.spec.stateful:
            return in_sequences(self.spec.steps, {t.name: feeds[t.name] for t in self.spec.inputs},
                                self._fresh_state, self._call)
        return in_batches(self.batch, {t.name: feeds[t.name] for t in self.spec.inputs}, self._run)

    def _run(self, feeds: dict[str, np.ndarray], state=None) -> dict[str, np.ndarray]:
        out = self.interpreter.run(feeds, state=state).outputs
        return {t.name: np.asarray(out[t.name], dtype=np.float32) for t in self.spec.outputs}

    def _fresh_state(self):
        state = self.interpreter.make_state()
        for name, value in self.initial.items():
            state.write(name, value)
        return state

    def _call(self, state, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._run(feeds, state)
