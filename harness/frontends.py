"""Two conversions of one model, compared: torch.jit.trace and torch.export into CoreML.

coremltools converts both; they lower through different frontends and can disagree (an op
one frontend maps wrongly, a shape one specialises). Where both convert, their emulated
outputs are compared with each other and with torch; where one fails, that is the finding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.backends import create
from harness.backends.pytorch import TorchBackend
from harness.errors import HarnessError
from harness.export import export_model
from harness.parity.compare import Comparison
from harness.parity.judge import as_read
from harness.parity.tolerances import FP32
from harness.results import Reading
from harness.spec import FRONTENDS, ModelSpec


@dataclass(frozen=True)
class FrontendComparison:
    failed: dict[str, str]  # frontend -> why its conversion failed
    comparisons: tuple[Comparison, ...]  # each frontend vs torch, then export vs trace

    def __bool__(self) -> bool:
        return not self.failed and all(self.comparisons)


def compare_frontends(spec: ModelSpec, folder: str | Path, n: int = 64, seed: int = 0,
                      precision: str = "fp32") -> FrontendComparison:
    """Convert `spec` with every frontend into `folder/<frontend>` and compare the emulated outputs."""
    cases = spec.make_cases(n, seed)
    outputs, failed = {"torch": TorchBackend.of(spec).run(cases.feeds)}, {}
    for frontend in FRONTENDS:
        variant = dataclasses.replace(spec, frontend=frontend)
        try:  # only the CoreML artifact: the frontends differ there alone
            manifest = export_model(variant, Path(folder) / frontend, targets=[("coreml", precision)])
            backend = create(f"coreml-emulated@{precision}[fp32]")
            backend.load(variant, manifest, Path(folder) / frontend)
            outputs[frontend] = backend.run(cases.feeds)
        except HarnessError as err:
            failed[frontend] = str(err)
    pairs = [("torch", f) for f in FRONTENDS if f in outputs] + ([("trace", "export")] if len(outputs) == 3 else [])
    reading = Reading.of(spec)
    comparisons = tuple(  # fp32 programs both, whatever the model's own policy: a frontend's error shows unscaled
        as_read(reading, outputs[ref][t.name], outputs[cand][t.name], policy=FP32, output=t.name,
                decision_mask=cases.decision_mask, inputs=cases.feeds,
                reference_name=f"coreml-emulated[{ref}]" if ref != "torch" else "torch",
                candidate_name=f"coreml-emulated[{cand}]")
        for ref, cand in pairs for t in spec.outputs)
    return FrontendComparison(failed, comparisons)
