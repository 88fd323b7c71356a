"""The kit's models, as the harness finds them (entry point `trendsplit_harness.models`).

A provider is a module with `MODELS` (name -> ModelSpec, or a function returning one) and,
optionally, `DEFAULT` (the model commands use when none is named).
"""

from __future__ import annotations

from trendsplit import fp16_stress, models

MODELS = {
    models.SPEC.name: models.SPEC,
    models.GRU_SPEC.name: models.GRU_SPEC,
    models.V2_SPEC.name: models.V2_SPEC,
    fp16_stress.SPEC.name: fp16_stress.SPEC,
}

DEFAULT = "trendsplit"
