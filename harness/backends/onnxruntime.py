"""onnxruntime's CPU execution provider on the exported `.onnx` file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.backends.base import Backend
from harness.export.manifest import Manifest
from models.spec import ModelSpec


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None:
        import onnxruntime as ort

        artifact = manifest.artifact("onnx", self.precision)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / artifact.path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = spec.input.name
        self.output_name = spec.output.name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        (out,) = self.session.run([self.output_name], feed)
        return out.astype(np.float32, copy=False)
