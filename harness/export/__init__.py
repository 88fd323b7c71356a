"""Export a reference model to every format, atomically, with a manifest.

`EXPORTERS` lists one entry per (format, precision); adding a format is one module and
one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from harness import atomic
from harness.encoding import ENCODING_VERSION
from harness.errors import ExportError, HarnessError, UsageError
from harness.export.coreml import export_coreml
from harness.export.manifest import (
    EXPORT_FORMAT_VERSION,
    MANIFEST,
    Artifact,
    Manifest,
    sha256_path,
    tool_versions,
)
from harness.export.onnx import export_onnx
from models.spec import ModelSpec, model_fingerprint, weights_sha256

Exporter = Callable[..., dict]

EXPORTERS: dict[tuple[str, str], Exporter] = {
    ("onnx", "fp32"): export_onnx,
    ("coreml", "fp32"): export_coreml,
    ("coreml", "fp16"): export_coreml,
}

__all__ = ["EXPORTERS", "Manifest", "Artifact", "export_model", "ensure_exported"]


def export_model(spec: ModelSpec, folder: str | Path,
                 targets: Iterable[tuple[str, str]] | None = None,
                 progress: Callable[[str], None] | None = None) -> Manifest:
    """Export `spec` into `folder` (replaced whole on success, untouched on failure)."""
    targets = list(targets or EXPORTERS)
    for t in targets:
        if t not in EXPORTERS:
            known = ", ".join(f"{f}@{p}" for f, p in EXPORTERS)
            raise UsageError(f"unknown export target {t[0]}@{t[1]}; known: {known}")
    module = spec.build()
    artifacts = []
    with atomic.staged_dir(folder) as stage:
        for fmt, precision in targets:
            if progress:
                progress(f"exporting {spec.name} -> {fmt}@{precision}")
            try:
                details = EXPORTERS[(fmt, precision)](spec, module, stage, precision)
            except HarnessError:
                raise
            except Exception as err:  # any converter failure names its stage
                raise ExportError(f"{fmt}@{precision}", f"{type(err).__name__}: {err}") from err
            rel = details.pop("path")
            artifacts.append(Artifact(fmt, precision, rel, sha256_path(stage / rel), details))
        manifest = Manifest(
            model=spec.name, weights_sha256=weights_sha256(module),
            model_fingerprint=model_fingerprint(spec, module),
            weights_source=spec.weights_source, trained=spec.trained,
            encoding_version=ENCODING_VERSION, export_format_version=EXPORT_FORMAT_VERSION,
            versions=tool_versions(), artifacts=tuple(artifacts))
        manifest.write(stage)
    return manifest


def ensure_exported(spec: ModelSpec, folder: str | Path,
                    progress: Callable[[str], None] | None = None) -> Manifest:
    """Reuse `folder` when its manifest matches these weights, tools and files; else re-export."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        try:
            old = Manifest.read(folder)
        except (ValueError, TypeError, KeyError):
            old = None
        if (old is not None and old.model == spec.name
                and old.model_fingerprint == model_fingerprint(spec, spec.build())
                and old.export_format_version == EXPORT_FORMAT_VERSION
                and old.encoding_version == ENCODING_VERSION
                and old.versions == tool_versions()
                and {(a.format, a.precision) for a in old.artifacts} == set(EXPORTERS)
                and not old.verify(folder)):
            return old
    return export_model(spec, folder, progress=progress)
