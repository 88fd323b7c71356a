"""Registry of backends, and parsing of `name[@precision][[option]]` references.

Adding a backend is one module and one line in `BACKENDS`. A reference reads like the
label in reports, e.g. `onnxruntime`, `coreml@fp16[CPU_ONLY]`, `coreml-emulated@fp16[fp16]`;
a bare name means every variant the backend lists.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.backend_names import DEFAULT, REFERENCE
from harness.backends.base import Backend
from harness.backends.coreml import CoreMLBackend
from harness.backends.coreml_emulated import EmulatedCoreMLBackend
from harness.backends.executorch import ExecuTorchBackend, ExecuTorchCoreMLBackend
from harness.backends.onnxruntime import OnnxRuntimeBackend
from harness.backends.pytorch import TorchBackend
from harness.errors import BackendUnavailable, UsageError

BACKENDS: dict[str, type[Backend]] = {
    TorchBackend.name: TorchBackend,
    OnnxRuntimeBackend.name: OnnxRuntimeBackend,
    CoreMLBackend.name: CoreMLBackend,
    EmulatedCoreMLBackend.name: EmulatedCoreMLBackend,
    ExecuTorchBackend.name: ExecuTorchBackend,
    ExecuTorchCoreMLBackend.name: ExecuTorchCoreMLBackend,
}

__all__ = ["BACKENDS", "Backend", "create", "parse_backends", "default_backends", "load_backends"]

_REFERENCE = REFERENCE


def known() -> str:
    return ", ".join(f"{name}[@{'|'.join(cls.precisions)}]" for name, cls in BACKENDS.items())


def _lookup(name: str) -> type[Backend]:
    cls = BACKENDS.get(name)
    if cls is None:
        raise UsageError(f"unknown backend {name!r}; known backends: {known()}")
    return cls


def create(ref: str, **options: str) -> Backend:
    """`"onnxruntime"`, `"coreml@fp16"` or `"coreml-emulated@fp16[fp16]"` -> a backend (not loaded)."""
    match = _REFERENCE.match(ref.strip())
    if not match:
        raise UsageError(f"cannot read backend reference {ref!r}; write name[@precision][[option]]")
    cls = _lookup(match["name"])
    precision = match["precision"] or cls.precisions[0]
    if precision not in cls.precisions:
        raise UsageError(f"backend {cls.name!r} has no precision {precision!r}; "
                         f"it has: {', '.join(cls.precisions)}")
    kwargs = {k: v for k, v in options.items() if cls.option and k == cls.option and v is not None}
    if match["option"]:
        if not cls.option:
            raise UsageError(f"backend {cls.name!r} takes no [option]")
        kwargs[cls.option] = match["option"]
    return cls(precision, **kwargs)


def parse_backends(text: str | Sequence[str], **options: str) -> list[Backend]:
    """A comma list of references (or a list of them); a bare name expands to the backend's variants.
    A backend named twice is refused: the second run would be judged against the first, or against
    the same reference again, and a run compared with itself tests nothing."""
    if isinstance(text, list | tuple) and all(isinstance(r, str) for r in text):
        text = ",".join(text)
    if not isinstance(text, str):
        raise UsageError(f"backends are a comma list or a list of references like 'torch' or 'coreml@fp16', "
                         f"got {type(text).__name__} {text!r:.60}")
    out: list[Backend] = []
    for ref in filter(None, (r.strip() for r in text.split(","))):
        match = _REFERENCE.match(ref)
        if match is None or "@" in ref or "[" in ref:
            out.append(create(ref, **options))
            continue
        cls = _lookup(match["name"])
        for precision, value in cls.variants:
            suffix = f"[{value}]" if value else ""
            out.append(create(f"{cls.name}@{precision}{suffix}", **options))
    if not out:
        raise UsageError(f"no backend named; known backends: {known()}")
    labels = [b.label for b in out]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise UsageError(f"{', '.join(twice)} named twice in {text!r}: each backend runs once "
                         "(a run compared with itself tests nothing)")
    return out


def default_backends(**options: str) -> list[Backend]:
    """Every backend, none of them named by the user: one that refuses a model (`Backend.refuses`) is skipped."""
    backends = parse_backends(",".join(DEFAULT), **options)
    for b in backends:
        b.named = False
    return backends


def targets(backends) -> set[tuple[str, str]]:
    """The export targets these backends need beyond the default ones (`Backend.target`)."""
    return {b.target for b in backends if b.target is not None}


def load_backends(spec, refs, folder, *, progress=None, skip_unavailable: bool = False) -> list[Backend]:
    """Export (or reuse) `spec` in `folder` once, then create and load each referenced backend.

    A backend that cannot run here raises `BackendUnavailable`, or is left out with
    `skip_unavailable` (and said through `progress`).
    """
    from pathlib import Path

    from harness.export import ensure_exported

    folder = Path(folder)
    backends = [create(ref) for ref in refs]
    manifest = ensure_exported(spec, folder, progress=progress,
                               targets=targets(b for b in backends if not b.unavailable_reason()))
    loaded = []
    for backend in backends:
        reason = backend.unavailable_reason()
        if reason:
            if not skip_unavailable:
                raise BackendUnavailable(f"{backend.label}: {reason}")
            if progress:
                progress(f"skipped {backend.label}: {reason}")
            continue
        backend.load(spec, manifest, folder)
        loaded.append(backend)
    return loaded
