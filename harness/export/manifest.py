"""`manifest.json`: what an export folder holds, where it came from, and the hash of every file."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import atomic
from harness.errors import UsageError

MANIFEST = "manifest.json"
#: Bump when an exporter changes what it writes, so cached exports are redone.
EXPORT_FORMAT_VERSION = 2


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder as the sorted list of its files' paths and hashes.

    An `.mlpackage` is hashed by content: its `Manifest.json` holds fresh UUIDs on every
    save and protobuf maps serialise in any order, so its spec is hashed in protobuf's
    deterministic serialisation and the manifest is left out. Same model, same hash.
    """
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    lines = []
    for f in sorted(path.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(path).as_posix()
        if path.suffix == ".mlpackage" and rel == "Manifest.json":
            continue
        spec_file = path.suffix == ".mlpackage" and f.name == "model.mlmodel"
        digest = _mlmodel_sha256(f) if spec_file else sha256_path(f)
        lines.append(f"{rel} {digest}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _mlmodel_sha256(path: Path) -> str:
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    spec.ParseFromString(path.read_bytes())
    return hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()


def tool_versions() -> dict[str, str]:
    import coremltools
    import numpy
    import onnx
    import onnxruntime
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "coremltools": coremltools.__version__, "numpy": numpy.__version__}


@dataclass(frozen=True)
class Artifact:
    format: str  # "onnx" | "coreml"
    precision: str  # "fp32" | "fp16"
    path: str  # relative to the export folder
    sha256: str
    details: dict = field(default_factory=dict)  # e.g. {"opset": 18}


@dataclass(frozen=True)
class Manifest:
    model: str
    weights_sha256: str
    model_fingerprint: str  # weights and traced graph: a code change re-exports
    weights_source: str
    trained: bool
    encoding_version: int
    export_format_version: int
    versions: dict[str, str]
    artifacts: tuple[Artifact, ...]

    def artifact(self, fmt: str, precision: str) -> Artifact:
        for a in self.artifacts:
            if a.format == fmt and a.precision == precision:
                return a
        have = ", ".join(f"{a.format}@{a.precision}" for a in self.artifacts)
        raise UsageError(f"no {fmt}@{precision} artifact in this export (it has: {have})")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, folder: Path) -> Path:
        return atomic.write_text(Path(folder) / MANIFEST, self.to_json())

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        raw = json.loads((Path(folder) / MANIFEST).read_text())
        raw["artifacts"] = tuple(Artifact(**a) for a in raw["artifacts"])
        return cls(**raw)

    def verify(self, folder: Path) -> list[str]:
        """Files whose content no longer matches the recorded hash (empty when all match)."""
        return [a.path for a in self.artifacts
                if not (Path(folder) / a.path).exists()
                or sha256_path(Path(folder) / a.path) != a.sha256]
