"""Where a model name leads: the zoo, model providers, or a user's `path/to/file.py:name`.

Providers register under the `trendsplit_harness.models` entry point (a module with `MODELS`,
optionally `DEFAULT`, and optionally `UNAVAILABLE`: name -> why it cannot be offered here), so
the harness names no model package of its own; the trendsplit
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
    for provider in _providers():  # a model its provider has, but cannot offer here (an extra not installed)
        if name in getattr(provider, "UNAVAILABLE", {}):
            raise UsageError(provider.UNAVAILABLE[name])
    known = f"known models: {', '.join(models)}, and the zoo's " if models else "known models: the zoo's "
    raise UsageError(f"unknown model {name!r}; {known}{', '.join(zoo.ZOO)} (or path/to/file.py:name for your own)")
