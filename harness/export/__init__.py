"""Export a reference model to every format, atomically, with a manifest.

`EXPORTERS` lists one entry per (format, precision); adding a format is one module and
one line here. `DEFAULT_TARGETS` are exported always; the ExecuTorch programs (an optional
extra) when a backend that runs them asks (`ensure_exported(..., targets=...)`), and kept after.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import atomic, backend_names, quiet
from harness.errors import ExportError, HarnessError, UsageError
from harness.export.coreml import AliasedOutputError, FlexibleBatchError, export_coreml
from harness.export.executorch import (
    DataDependentBranch,
    export_coreml_delegate,
    export_portable,
    export_xnnpack,
)
from harness.export.manifest import (
    EXPORT_FORMAT_VERSION,
    Artifact,
    ArtifactError,
    Manifest,
    not_an_export,
    sha256_path,
    tool_versions,
)
from harness.export.onnx import export_onnx
from harness.export.unconvertible import ADVICE, failed_op
from harness.progress import bar
from harness.spec import ModelSpec, model_fingerprint, weights_sha256

Exporter = Callable[..., dict]

EXPORTERS: dict[tuple[str, str], Exporter] = {
    ("onnx", "fp32"): export_onnx,
    ("coreml", "fp32"): export_coreml,
    ("coreml", "fp16"): export_coreml,
    ("executorch-xnnpack", "fp32"): export_xnnpack,
    ("executorch-xnnpack", "int8"): export_xnnpack,
    ("executorch-portable", "fp32"): export_portable,
    ("executorch-coreml", "fp16"): export_coreml_delegate,
}
#: What every export holds; the others (ExecuTorch's, an optional extra) are exported when asked for.
DEFAULT_TARGETS: tuple[tuple[str, str], ...] = (("onnx", "fp32"), ("coreml", "fp32"), ("coreml", "fp16"))
#: The formats that can hold a model's state across calls (Core ML's states, iOS18); a stateful model is
#: exported to these alone. ONNX has no state: a graph that updated a buffer would forget it between runs.
STATEFUL_FORMATS = frozenset({"coreml"})


def default_targets(spec: ModelSpec) -> tuple[tuple[str, str], ...]:
    """What every export of `spec` holds: `DEFAULT_TARGETS`, the Core ML ones alone for a stateful model."""
    return tuple(t for t in DEFAULT_TARGETS if not spec.stateful or t[0] in STATEFUL_FORMATS)

__all__ = ["EXPORTERS", "DEFAULT_TARGETS", "STATEFUL_FORMATS", "default_targets", "Manifest", "Artifact",
           "export_model", "ensure_exported", "stale_reason"]


def export_model(spec: ModelSpec, folder: str | Path,
                 targets: Iterable[tuple[str, str]] | None = None,
                 progress: Callable[[str], None] | None = None, keep_going: bool = False,
                 module=None, fingerprint: str | None = None) -> Manifest:
    """Export `spec` into `folder` (replaced whole on success, untouched on failure).

    `folder` must be new, empty, or an export folder this harness wrote: anything else
    is refused rather than replaced. With `keep_going`, a converter that fails is recorded
    in the manifest (`failures`, stage -> reason) and the other formats are still written,
    so one converter's gap (e.g. an op neither of torch's ONNX exporters converts) does not
    hide CoreML's numbers; its backends then fail with the recorded reason.
    """
    targets = list(targets or default_targets(spec))
    for t in targets:
        if t not in EXPORTERS:
            known = ", ".join(f"{f}@{p}" for f, p in EXPORTERS)
            raise UsageError(f"unknown export target {t[0]}@{t[1]}; known: {known}")
        if spec.stateful and t[0] not in STATEFUL_FORMATS:
            raise UsageError(f"model {spec.name!r} keeps state ({', '.join(spec.states)}), which {t[0]} cannot "
                             f"hold across calls: export it to {', '.join(sorted(STATEFUL_FORMATS))} alone")
    atomic.check_replaceable(folder, not_an_export)  # before the build: a refusal costs nothing
    module = module if module is not None else spec.build()  # callers that built it pass it on
    spec.check_module(module)  # a wrong declared shape is named here, not deep in a converter
    artifacts, failures = [], {}
    with atomic.staged_dir(folder, ours=not_an_export) as stage, _collect_only_new_objects(), \
            bar(progress, len(targets), f"export {spec.name}", "stage") as shown:
        for fmt, precision in targets:
            if progress:
                progress(f"exporting {spec.name} -> {fmt}@{precision}")
            shown.set_postfix_str(f"{fmt}@{precision}")
            before = set(stage.iterdir())
            with quiet.captured() as said:  # converters' chatter: shown only if the stage fails
                try:
                    details = EXPORTERS[(fmt, precision)](spec, module, stage, precision)
                except HarnessError:
                    raise
                except Exception as err:  # any converter failure names its stage, in one line
                    failure = conversion_failure(fmt, precision, err, said(), stateful=spec.stateful)
                    if not keep_going:
                        raise failure from err
                    failures[f"{fmt}@{precision}"] = failure.reason
                    _remove_new(stage, before)  # the folder holds only what its manifest lists
                    if progress:
                        progress(f"{failure} (kept going)")
                    shown.update()
                    continue
            rel = details.pop("path")
            artifacts.append(Artifact(fmt, precision, rel, sha256_path(stage / rel), details))
            shown.update()
        manifest = Manifest(
            model=spec.name, weights_sha256=weights_sha256(module),
            model_fingerprint=fingerprint or model_fingerprint(spec, module),
            weights_source=spec.weights_source, trained=spec.trained,
            metadata=dict(spec.metadata), export_format_version=EXPORT_FORMAT_VERSION,
            versions=tool_versions(), artifacts=tuple(artifacts), failures=failures, target=spec.target,
            batch=str(spec.batch))
        manifest.write(stage)
    return manifest


#: In-place writes coremltools 9 does not convert into a state update (`index_copy_` at all; `copy_` of a whole
#: buffer: "No matching select or slice"), and the write that converts (the zoo's KV cache and a gated state pass).
IN_PLACE_WRITES = frozenset({"copy_", "index_copy_"})
STATE_WRITE_ADVICE = ("write a state by slice assignment (`buf[:, :] = value`, a position through a one-hot mask), "
                      "which coremltools converts to a state update")

#: The converter behind each format, and the backends that run its artifacts, as a failure names them.
CONVERTERS = {"onnx": "torch.onnx", "coreml": "coremltools", "executorch-xnnpack": "ExecuTorch",
              "executorch-portable": "ExecuTorch", "executorch-coreml": "ExecuTorch"}
BACKENDS_OF = {"onnx": ("onnxruntime",), "coreml": ("coreml", "coreml-emulated"),
               "executorch-xnnpack": ("executorch",), "executorch-portable": ("executorch",),
               "executorch-coreml": ("executorch-coreml-emulated",)}


def conversion_failure(fmt: str, precision: str, err: Exception, said: str, *, stateful: bool = False) -> ExportError:
    """The converter's error in one line: the torch op and module it failed on, when its traceback holds them,
    and what the user can do about it; the converter's own words kept on the error (`output`). A `stateful` model
    runs on Core ML alone besides torch, so it is not told to run on the other backends (they refuse it)."""
    lines = [line for line in quiet.plain(str(err)).splitlines() if line.strip()]
    words = f"{type(err).__name__}: {lines[0].strip()[:400] if lines else ''}"
    if isinstance(err, FlexibleBatchError):  # its message names the op and the declaration that converts
        said = f"{said}\n{quiet.plain(str(err.cause))}"
        return ExportError(f"{fmt}@{precision}", str(err), output=quiet.tail(said, 30))
    if isinstance(err, AliasedOutputError):  # its message names the outputs and what converts
        return ExportError(f"{fmt}@{precision}", str(err), output=quiet.tail(said, 30))
    if isinstance(err, DataDependentBranch):  # its message names the line and what to change there
        return ExportError(f"{fmt}@{precision}", f"{CONVERTERS.get(fmt, fmt)} cannot convert: {err}{_without(fmt)}",
                           output=quiet.tail(said, 30))
    op = failed_op(err)
    if op is None:
        return ExportError(f"{fmt}@{precision}", words, output=quiet.tail(said + "\n" + quiet.plain(str(err)), 30))
    reason = (f"{CONVERTERS.get(fmt, fmt)} cannot convert {op.describe()} ({words}); {ADVICE}"
              + ("; a model that keeps state runs on Core ML alone besides torch, so it needs this conversion"
                 + (f"; {STATE_WRITE_ADVICE}" if op.op.removeprefix("aten::") in IN_PLACE_WRITES else "")
                 if stateful and fmt in STATEFUL_FORMATS else _without(fmt)))
    return ExportError(f"{fmt}@{precision}", reason, output=quiet.tail(said + "\n" + quiet.plain(str(err)), 30))


def _without(fmt: str) -> str:
    """The advice to run without the backends of `fmt`: `, or run without X (--backends ...)` ("" if none)."""
    needs = BACKENDS_OF.get(fmt, ())
    others = ",".join(name for name in backend_names.DEFAULT if name not in needs)
    return f", or run without {', '.join(needs)} (--backends {others})" if needs else ""


def _remove_new(folder: Path, before: set[Path]) -> None:
    """What a failed converter left in `folder` since `before`: removed, so the export stays ours."""
    for leftover in set(folder.iterdir()) - before:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextmanager
def _collect_only_new_objects() -> Iterator[None]:
    """Garbage collections during the export walk only the objects it made.

    The converters allocate heavily, and `ct.convert` ends with a full `gc.collect()`: each
    collection walks every object the process holds (torch's, the test suite's), which made a
    third of a small model's export time. Freezing what exists moves it out of their way; it is
    unfrozen after. A caller that froze objects itself is left alone (unfreezing is all or none).
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _held(manifest: Manifest) -> set[tuple[str, str]]:
    """The targets an export tried: those it wrote and those that failed."""
    return {(a.format, a.precision) for a in manifest.artifacts} | {tuple(k.split("@", 1)) for k in manifest.failures}


def wanted_targets(asked: Iterable[tuple[str, str]] = (), spec: ModelSpec | None = None) -> list[tuple[str, str]]:
    """The default targets (of `spec`) and the ones asked for, in `EXPORTERS`' order; an unknown one is a
    UsageError."""
    asked = set(asked)
    for t in asked - set(EXPORTERS):
        raise UsageError(f"unknown export target {t[0]}@{t[1]}")
    defaults = DEFAULT_TARGETS if spec is None else default_targets(spec)
    return [t for t in EXPORTERS if t in asked or t in defaults]


def stale_reason(spec: ModelSpec, folder: str | Path, fingerprint: str | None = None,
                 targets: Iterable[tuple[str, str]] = ()) -> str | None:
    """Why `folder` cannot be reused for `spec` and the extra `targets` (None when it can): a one-line note."""
    folder = Path(folder)
    try:
        old = Manifest.read(folder)
    except ArtifactError as err:
        return str(err)
    held, wanted = _held(old), set(wanted_targets(targets, spec))
    checks = (
        (old.model == spec.name, f"it holds model {old.model!r}"),
        (old.export_format_version == EXPORT_FORMAT_VERSION, "the export format changed"),
        (old.target == spec.target, f"the deployment target changed ({old.target} -> {spec.target})"),
        (old.batch == str(spec.batch), f"the declared batch changed ({old.batch} -> {spec.batch})"),
        (old.metadata == dict(spec.metadata), "the model's metadata changed"),
        (old.versions == tool_versions(), "tool versions changed"),
        (held <= set(EXPORTERS) and set(default_targets(spec)) <= held, "the export targets changed"),
        (wanted <= held, f"it lacks {', '.join(f'{f}@{p}' for f, p in sorted(wanted - held))}"),
        (old.model_fingerprint == (fingerprint or model_fingerprint(spec, spec.build())),
         "the model's weights or code changed"),
    )
    for ok, reason in checks:
        if not ok:
            return reason
    problems = old.verify(folder)
    return f"files changed since export: {'; '.join(problems)}" if problems else None


def ensure_exported(spec: ModelSpec, folder: str | Path,
                    progress: Callable[[str], None] | None = None,
                    targets: Iterable[tuple[str, str]] = ()) -> Manifest:
    """Reuse `folder` when its manifest matches these weights, tools and files and holds the default
    targets and `targets`; else re-export, keeping every target the folder held (so runs that ask for
    different targets do not export over each other's).

    Holds the folder's lock throughout, so concurrent runs export once and reuse it. The model
    is built and traced once, whether the folder is reused or exported again.
    """
    folder = Path(folder)
    wanted = wanted_targets(targets, spec)
    atomic.check_replaceable(folder, not_an_export)
    with atomic.folder_lock(folder):
        module = spec.build()
        fingerprint = model_fingerprint(spec, module)
        if folder.exists():
            reason = stale_reason(spec, folder, fingerprint, wanted)
            if reason is None:
                return Manifest.read(folder)
            if progress:
                progress(f"re-exporting {folder}: {reason}")
            with contextlib.suppress(ArtifactError):
                kept = {t for t in _held(Manifest.read(folder)) & set(EXPORTERS)
                        if not spec.stateful or t[0] in STATEFUL_FORMATS}
                wanted = wanted_targets(set(wanted) | kept, spec)
        return export_model(spec, folder, targets=wanted, progress=progress, keep_going=True, module=module,
                            fingerprint=fingerprint)
