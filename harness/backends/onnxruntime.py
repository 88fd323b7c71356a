"""onnxruntime's CPU execution provider on the exported `.onnx` file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.backends.base import Backend
from harness.export.manifest import Manifest
from harness.spec import ModelSpec


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def refuses(self, spec: ModelSpec) -> str | None:
        if spec.stateful:
            return (f"model {spec.name!r} keeps state ({', '.join(spec.states)}) across calls, and an ONNX graph "
                    "holds none (each run would start from the exported buffer values): run it on torch, "
                    "coreml-emulated and coreml")
        return None

    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None:
        import os

        import onnxruntime as ort

        artifact = manifest.artifact("onnx", self.precision)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # onnxruntime sizes its pool to the machine and ignores OpenMP's variable; honour it, as torch does.
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit() and int(threads) > 0:
            options.intra_op_num_threads = int(threads)
        # Its pool's threads otherwise spin for work after each run, on the cores the next backend of the
        # same process (parity and the benchmarks run them in turns) needs: the fp32 emulation at batch 256
        # took 127 ms right after onnxruntime and 37 ms after itself (docs/trendsplit/benchmarks.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(folder / artifact.path), options,
                                            providers=["CPUExecutionProvider"])
        self.spec = spec

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {t.name: np.ascontiguousarray(feeds[t.name], dtype=np.dtype(t.dtype)) for t in self.spec.inputs}
        names = [t.name for t in self.spec.outputs]
        return dict(zip(names, self.session.run(names, feed), strict=True))
