"""Where a model name leads: the zoo, model providers, or a user's `path/to/file.py:name`.

Providers register under the `trendsplit_harness.models` entry point (a module with `MODELS`
and optionally `DEFAULT`), so the harness names no model package of its own; the trendsplit
kit is one such provider.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import entry_points

from harness.errors import UsageError
from harness.spec import ModelSpec

GROUP = "trendsplit_harness.models"


@functools.cache
def _providers() -> tuple:
    return tuple(ep.load() for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name))


def registered() -> dict[str, ModelSpec | Callable[[], ModelSpec]]:
    """Every provider's models, by name (a provider's entry is a spec or a function making one)."""
    out: dict = {}
    for provider in _providers():
        out.update(provider.MODELS)
    return out


def default_model() -> str | None:
    return next((p.DEFAULT for p in _providers() if getattr(p, "DEFAULT", None)), None)


def get_model(name: str) -> ModelSpec:
    """A provider's model by name, a zoo model, or a user's model as `path/to/file.py:name`."""
    from harness import zoo

    if ".py:" in name:
        from harness.user_model import load

        return load(name)
    models = registered()
    if name in models:
        found = models[name]
        return found if isinstance(found, ModelSpec) else found()
    if name in zoo.ZOO:
        return zoo.spec(zoo.ZOO[name])
    raise UsageError(f"unknown model {name!r}; known models: {', '.join(models)}, and the zoo's "
                     f"{', '.join(zoo.ZOO)} (or path/to/file.py:name for your own)")
