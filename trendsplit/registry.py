"""The kit's models, as the harness finds them (entry point `trendsplit_harness.models`).

A provider is a module with `MODELS` (name -> ModelSpec, or a function returning one) and,
optionally, `DEFAULT` (the model commands use when none is named). Without the kit's extra
(`trendsplit.installed`) it offers nothing: the harness then has no default model and names no
trendsplit model, as if the kit were not installed.
"""

from __future__ import annotations

from trendsplit import fp16_stress, installed, models

MODELS = {} if installed.missing() else {
    models.SPEC.name: models.SPEC,
    models.GRU_SPEC.name: models.GRU_SPEC,
    models.V2_SPEC.name: models.V2_SPEC,
    models.V3_SPEC.name: models.V3_SPEC,
    models.V3B_SPEC.name: models.V3B_SPEC,
    models.V4_SPEC.name: models.V4_SPEC,
    fp16_stress.SPEC.name: fp16_stress.SPEC,
}

DEFAULT = None if installed.missing() else "trendsplit"
