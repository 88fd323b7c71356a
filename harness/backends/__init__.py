"""Registry of backends, and parsing of `name[@precision]` backend references.

Adding a backend is one module and one line in `BACKENDS`.
"""

from __future__ import annotations

from harness.backends.base import Backend
from harness.backends.coreml import CoreMLBackend
from harness.backends.onnxruntime import OnnxRuntimeBackend
from harness.backends.pytorch import TorchBackend
from harness.errors import UsageError

BACKENDS: dict[str, type[Backend]] = {
    TorchBackend.name: TorchBackend,
    OnnxRuntimeBackend.name: OnnxRuntimeBackend,
    CoreMLBackend.name: CoreMLBackend,
}

__all__ = ["BACKENDS", "Backend", "create", "parse_backends", "default_backends"]


def known() -> str:
    return ", ".join(f"{name}[@{'|'.join(cls.precisions)}]" for name, cls in BACKENDS.items())


def create(ref: str, **options: str) -> Backend:
    """`"onnxruntime"` or `"coreml@fp16"` -> a backend instance (not yet loaded)."""
    name, _, precision = ref.strip().partition("@")
    cls = BACKENDS.get(name)
    if cls is None:
        raise UsageError(f"unknown backend {name!r}; known backends: {known()}")
    precision = precision or cls.precisions[0]
    if precision not in cls.precisions:
        raise UsageError(f"backend {name!r} has no precision {precision!r}; "
                         f"it has: {', '.join(cls.precisions)}")
    accepted = {k: v for k, v in options.items() if k in _option_names(cls)}
    return cls(precision, **accepted)


def _option_names(cls: type[Backend]) -> set[str]:
    import inspect

    return {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "precision",
                                                                                "options")}


def parse_backends(text: str, **options: str) -> list[Backend]:
    """A comma list of references; a bare name with several precisions means all of them."""
    out: list[Backend] = []
    for ref in filter(None, (r.strip() for r in text.split(","))):
        name = ref.partition("@")[0]
        if "@" in ref or name not in BACKENDS:
            out.append(create(ref, **options))
        else:
            out.extend(create(f"{name}@{p}", **options) for p in BACKENDS[name].precisions)
    if not out:
        raise UsageError(f"no backend named; known backends: {known()}")
    return out


def default_backends(**options: str) -> list[Backend]:
    return parse_backends(",".join(BACKENDS), **options)
