"""`manifest.json`: what an export folder holds, where it came from, and the hash of every file."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import atomic, files
from harness.errors import ExportError, HarnessError, UsageError
from harness.mlpackage import package_sha256

MANIFEST = "manifest.json"
#: A manifest is a few KB; a larger `manifest.json` is not one this harness wrote (and is not read).
MAX_MANIFEST_BYTES = 1 << 20
#: What an operating system leaves in a folder it has shown: not the user's work.
SYSTEM_FILES = frozenset({".DS_Store"})
#: Bump when an exporter changes what it writes, so cached exports are redone.
EXPORT_FORMAT_VERSION = 7  # 6: the CoreML deployment target and batch are the model's (`target`, `batch`); 7: the int8
# ExecuTorch program calibrated in float64 on an exact grid (another program than 6's)
#: An artifact is one file or package directly inside the export folder.
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class ArtifactError(HarnessError):
    """An export folder whose manifest or files are not what the harness wrote."""


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder as the sorted list of its files' paths and hashes.

    An `.mlpackage` is hashed by content, manifest included (`harness.mlpackage`). A
    symlink is refused: an export folder holds its own files.
    """
    path = Path(path)
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        raise ArtifactError(f"{path.name} is a symlink; an export holds files")
    if stat.S_ISREG(mode):
        return files.sha256(path, error=ArtifactError)
    if path.suffix == ".mlpackage":
        return package_sha256(path, sha256_path)
    lines = []
    for f in sorted(path.rglob("*")):
        if f.is_symlink():
            raise ArtifactError(f"{f.relative_to(path)} is a symlink; an export holds files")
        if f.is_file():
            lines.append(f"{f.relative_to(path).as_posix()} {sha256_path(f)}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


#: The packages whose versions an export depends on (module names).
TOOLS = ("torch", "onnx", "onnxruntime", "coremltools", "numpy", "executorch")
#: Of those, the ones an extra brings (`executorch`): recorded as NOT_INSTALLED where it is not.
OPTIONAL_TOOLS = frozenset({"executorch"})
NOT_INSTALLED = "not installed"


def tool_versions() -> dict[str, str]:
    """Python's and each tool's version, without importing a tool to ask it.

    Importing coremltools only to read its version cost 2 s in every process that checks an
    export, writes a results file or a fixture and converts nothing.
    """
    return {"python": platform.python_version(), **{name: _version(name) for name in TOOLS}}


def _version(module: str) -> str:
    """The running module's `__version__` once imported; before, its distribution's, which is the same
    for an installed package (onnxruntime-gpu and other renamed distributions included)."""
    import sys
    from importlib import metadata

    loaded = sys.modules.get(module)
    if loaded is not None and isinstance(getattr(loaded, "__version__", None), str):
        return loaded.__version__
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:  # installed under another name, or not at all
        for dist in metadata.packages_distributions().get(module, ()):
            return metadata.version(dist)
    if module in OPTIONAL_TOOLS:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            return NOT_INSTALLED
    if module == "coremltools":  # no metadata (a source checkout): ask it, its import chatter captured
        from harness.quiet import coremltools

        return coremltools().__version__
    return __import__(module).__version__


@dataclass(frozen=True)
class Artifact:
    format: str  # "onnx" | "coreml" | "executorch-xnnpack" | "executorch-portable"
    precision: str  # "fp32" | "fp16" | "int8"
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
    metadata: dict[str, str]  # the spec's, e.g. the input encoding version
    export_format_version: int
    versions: dict[str, str]
    artifacts: tuple[Artifact, ...]
    failures: dict[str, str] = field(default_factory=dict)  # "format@precision" -> why it failed
    target: str = "iOS15"  # the CoreML deployment target (`harness.targets`)
    batch: str = "1..1024"  # the batch sizes the CoreML export accepts (`harness.shapes`), as `parse` reads them

    def artifact(self, fmt: str, precision: str) -> Artifact:
        for a in self.artifacts:
            if a.format == fmt and a.precision == precision:
                return a
        if f"{fmt}@{precision}" in self.failures:
            raise ExportError(f"{fmt}@{precision}", self.failures[f"{fmt}@{precision}"])
        have = ", ".join(f"{a.format}@{a.precision}" for a in self.artifacts)
        raise UsageError(f"no {fmt}@{precision} artifact in this export (it has: {have})")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, folder: Path) -> Path:
        return atomic.write_text(Path(folder) / MANIFEST, self.to_json())

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The folder's manifest; `ArtifactError` saying why when it is missing or malformed."""
        path = Path(folder) / MANIFEST
        if not os.path.lexists(path):
            raise ArtifactError(f"{path} is missing")
        raw = files.read_json(path, limit=MAX_MANIFEST_BYTES, error=ArtifactError)  # a regular file, bounded
        try:
            raw["artifacts"] = tuple(Artifact(**a) for a in raw["artifacts"])
            manifest = cls(**raw)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ArtifactError(f"{path} is not a valid manifest ({type(err).__name__}: {err})") from None
        fields = {"model": str, "weights_sha256": str, "model_fingerprint": str, "weights_source": str,
                  "trained": bool, "metadata": dict, "export_format_version": int, "versions": dict,
                  "failures": dict, "target": str, "batch": str}
        wrong = [k for k, t in fields.items() if not isinstance(getattr(manifest, k), t)]
        for a in manifest.artifacts:
            if not all(isinstance(v, str) for v in (a.format, a.precision, a.path, a.sha256)):
                wrong.append(f"artifact {a.path!r}")
            elif not _SAFE_FILE.match(a.path):
                raise ArtifactError(f"{path}: artifact path {a.path!r} is not a file name inside the folder")
        if wrong:
            raise ArtifactError(f"{path} is not a valid manifest (wrong types: {', '.join(map(str, wrong))})")
        return manifest

    def verify(self, folder: Path) -> list[str]:
        """What no longer matches the recorded hashes, one line each (empty when all match)."""
        problems = []
        for a in self.artifacts:
            try:
                if sha256_path(Path(folder) / a.path) != a.sha256:
                    problems.append(f"{a.path} changed")
            except FileNotFoundError:
                problems.append(f"{a.path} is missing")
            except (HarnessError, OSError) as err:
                problems.append(f"{a.path}: {err}")
        return problems


def not_an_export(folder: Path) -> str | None:
    """Why `folder` is not an export this harness wrote, or None when it is one, so it may be replaced.

    Ours holds a `manifest.json` that reads as the harness's own (every field, of the types it writes)
    and nothing but the artifacts that manifest lists: a folder of someone else's `manifest.json`
    (a browser extension's), or one where a user has put files of their own, is not ours to replace.
    """
    path = Path(folder) / MANIFEST
    try:
        info = os.lstat(path)
    except OSError:
        return f"no {MANIFEST}"
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MANIFEST_BYTES:
        return f"its {MANIFEST} is not one this harness wrote"
    try:
        manifest = Manifest.read(folder)
    except ArtifactError:
        return f"its {MANIFEST} is not one this harness wrote"
    written = {MANIFEST, *(a.path for a in manifest.artifacts), *SYSTEM_FILES}
    other = sorted(p.name for p in Path(folder).iterdir() if p.name not in written)
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        return f"files the harness did not write: {shown}"
    return None
