"""Registry of reference models: one entry per model, explicit, in one place."""

from __future__ import annotations

from harness.errors import UsageError
from models import trendsplit
from models.spec import ModelSpec

MODELS: dict[str, ModelSpec] = {
    trendsplit.SPEC.name: trendsplit.SPEC,
}

DEFAULT_MODEL = "trendsplit"


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None
