"""Registry of reference models: one entry per model, explicit, in one place."""

from __future__ import annotations

from harness.errors import UsageError
from harness.spec import ModelSpec
from models import fp16_stress, trendsplit, zoo

MODELS: dict[str, ModelSpec] = {
    trendsplit.SPEC.name: trendsplit.SPEC,
    trendsplit.GRU_SPEC.name: trendsplit.GRU_SPEC,
    fp16_stress.SPEC.name: fp16_stress.SPEC,
}

DEFAULT_MODEL = "trendsplit"


def get_model(name: str) -> ModelSpec:
    """A registered model by name, or a user's model as `path/to/file.py:factory`."""
    if ".py:" in name:
        from harness.api import load

        return load(name)
    if name in MODELS:
        return MODELS[name]
    if name in zoo.ZOO:
        return zoo.spec(zoo.ZOO[name])
    raise UsageError(f"unknown model {name!r}; known models: {', '.join(MODELS)}, and the zoo's "
                     f"{', '.join(zoo.ZOO)} (or path/to/file.py:factory for your own)")
