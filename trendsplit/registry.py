"""The kit's models, as the harness finds them (entry point `trendsplit_harness.models`).

A provider is a module with `MODELS` (name -> ModelSpec, or a function returning one) and,
optionally, `DEFAULT` (the model commands use when none is named). Without the kit's extra
(`trendsplit.installed`) it offers nothing: the harness then has no default model and lists no
trendsplit model; one asked for by name is refused naming the extra (`UNAVAILABLE`).
"""

from __future__ import annotations

from trendsplit import fp16_stress, installed, models

_ALL = {
    models.SPEC.name: models.SPEC,
    models.GRU_SPEC.name: models.GRU_SPEC,
    models.V2_SPEC.name: models.V2_SPEC,
    models.V3_SPEC.name: models.V3_SPEC,
    models.V3B_SPEC.name: models.V3B_SPEC,
    models.V4_SPEC.name: models.V4_SPEC,
    fp16_stress.SPEC.name: fp16_stress.SPEC,
}
MODELS = {} if installed.missing() else _ALL
#: The kit's models it cannot offer here, and why: the harness says so when one is asked for by name.
UNAVAILABLE = {name: (f"model {name!r} is the trendsplit kit's, whose extra is not installed "
                      f"({', '.join(installed.missing())} missing): {installed.INSTALL}")
               for name in _ALL} if installed.missing() else {}

DEFAULT = None if installed.missing() else "trendsplit"
