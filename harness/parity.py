"""Run one model's seeded cases through several backends and judge each against the reference.

The reference is the first backend named (torch by default). Backends that cannot run
here are reported with their reason; on every machine the CoreML artifacts themselves
are checked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import atomic
from harness.backends import Backend
from harness.backends.coreml_emulated import EmulatedCoreMLBackend
from harness.compare import Comparison, compare
from harness.coreml_artifact import ArtifactCheck, check_coreml_artifact
from harness.errors import UsageError
from harness.export import ensure_exported
from harness.export.manifest import Manifest
from harness.spec import Cases, ModelSpec
from harness.tolerances import Policy, get_policy, policy_for


@dataclass(frozen=True)
class BackendRun:
    label: str
    precision: str
    status: str  # "ran" | "unavailable" | "failed"
    reason: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"backend": self.label, "precision": self.precision, "status": self.status,
                "reason": self.reason, "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class ParityReport:
    model: str
    weights_source: str
    trained: bool
    cases: Cases
    reference: str
    runs: tuple[BackendRun, ...]
    comparisons: tuple[Comparison, ...]
    artifact_checks: tuple[ArtifactCheck, ...]
    outputs: dict[str, np.ndarray]  # backend label -> the decided output, for plots and replay
    diagnoses: dict[str, dict] = field(default_factory=dict)  # pair -> first divergent op
    threshold: float = 0.5  # the model's decision threshold, for reading flips
    all_outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # label -> every output

    def __bool__(self) -> bool:
        """Passed: everything ran that could, and every comparison passed (an inconclusive one does not)."""
        return (all(r.status != "failed" for r in self.runs)
                and all(self.comparisons) and all(self.artifact_checks)
                and any(r.status == "ran" for r in self.runs))

    @property
    def status(self) -> str:
        """"PASSED", "FAILED", or "INCONCLUSIVE" when nothing failed but some pair proved nothing."""
        if self:
            return "PASSED"
        failed = (any(r.status == "failed" for r in self.runs) or not all(self.artifact_checks)
                  or any(c.verdict == "fail" for c in self.comparisons) or not self.comparisons)
        return "FAILED" if failed else "INCONCLUSIVE"

    def worst_case(self, c: Comparison) -> dict:
        k = c.worst[0] if c.worst else 0
        raw = self.cases.raw[k] if self.cases.raw else {n: v[k] for n, v in self.cases.feeds.items()}
        raw = {n: np.asarray(v).tolist() for n, v in raw.items()} if isinstance(raw, dict) else np.asarray(raw).tolist()
        return {"case": k, "kind": self.cases.kinds[k], "points": raw}

    def to_dict(self) -> dict:
        kinds, counts = np.unique(np.array(self.cases.kinds), return_counts=True)
        return {
            "passed": bool(self), "status": self.status, "model": self.model, "weights_source": self.weights_source,
            "trained": self.trained, "seed": self.cases.seed, "n": len(self.cases),
            "case_kinds": dict(zip(kinds.tolist(), counts.tolist(), strict=True)),
            "reference": self.reference,
            "backends": [r.to_dict() for r in self.runs],
            "comparisons": [{**c.to_dict(), "worst_case": self.worst_case(c)}
                            for c in self.comparisons],
            "artifact_checks": [a.to_dict() for a in self.artifact_checks],
            "diagnoses": self.diagnoses,
        }

    def write_json(self, path: str | Path) -> Path:
        return atomic.write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _run(backend: Backend, spec: ModelSpec, manifest: Manifest, folder: Path,
         inputs: np.ndarray) -> tuple[BackendRun, np.ndarray | None]:
    reason = backend.unavailable_reason()
    if reason:
        return BackendRun(backend.label, backend.precision, "unavailable", reason), None
    start = time.perf_counter()
    try:
        backend.load(spec, manifest, folder)
        out = backend.run(inputs)
    except Exception as err:  # reported, and fails the run; never hidden
        return BackendRun(backend.label, backend.precision, "failed",
                          f"{type(err).__name__}: {err}"), None
    return BackendRun(backend.label, backend.precision, "ran",
                      seconds=time.perf_counter() - start), out


def run_parity(spec: ModelSpec, backends: Sequence[Backend], *, n: int, seed: int,
               folder: str | Path, policy: Policy | None = None,
               progress: Callable[[str], None] | None = None) -> ParityReport:
    """Export (or reuse) `spec` in `folder`, run `n` cases from `seed` and compare."""
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    if not backends:
        raise UsageError("no backends to run")
    say = progress or (lambda _msg: None)
    folder = Path(folder)
    manifest = ensure_exported(spec, folder, progress=say)
    cases = spec.make_cases(n, seed)
    runs, outputs = [], {}
    for backend in backends:
        reason = backend.unavailable_reason()
        say(f"skipping {backend.label}: {reason}" if reason else f"running {backend.label} on {n:,} cases")
        run, out = _run(backend, spec, manifest, folder, cases.feeds)
        runs.append(run)
        if out is not None:
            outputs[backend.label] = out
    reference = backends[0]
    comparisons = []
    named = policy or (get_policy(spec.policy) if spec.policy else None)
    if reference.label in outputs:
        for backend in backends[1:]:
            if backend.label not in outputs:
                continue
            for tensor in spec.outputs:
                decided = tensor.name == spec.decided_output
                comparisons.append(compare(
                    outputs[reference.label][tensor.name], outputs[backend.label][tensor.name],
                    policy=named or policy_for(reference.precision, backend.precision),
                    threshold=spec.threshold, decision=spec.decision if decided else "none",
                    decision_mask=cases.decision_mask if decided else None, inputs=cases.feeds,
                    reference_name=reference.label, candidate_name=backend.label,
                    output=tensor.name if len(spec.outputs) > 1 else ""))
    checks = tuple(check_coreml_artifact(spec, a, folder)
                   for a in manifest.artifacts if a.format == "coreml")
    diagnoses = {}
    by_label = {b.label: b for b in backends}
    for c in comparisons:
        backend = by_label[c.candidate]
        if not c and isinstance(backend, EmulatedCoreMLBackend):
            say(f"localizing {c.pair}")
            diagnoses[c.pair] = diagnose(backend, c, spec, cases)
    decided = {label: out[spec.decided_output] for label, out in outputs.items()}
    return ParityReport(model=spec.name, weights_source=spec.weights_source,
                        trained=spec.trained, cases=cases, reference=reference.label,
                        runs=tuple(runs), comparisons=tuple(comparisons),
                        artifact_checks=checks, outputs=decided, diagnoses=diagnoses, all_outputs=outputs,
                        threshold=spec.threshold)


def diagnose(backend: EmulatedCoreMLBackend, c: Comparison, spec: ModelSpec, cases: Cases) -> dict:
    """Where a failing emulated run first diverges from the same program in the fp32 profile."""
    from harness.mil.localize import localize

    worst = sorted({f.case for f in c.flips} | {c.worst[0]})[:16]
    result = localize(backend.program, cases.take(worst), "fp32", backend.profile)
    first = result.first
    return {"cases": worst, "first": first.to_dict() if first else None,
            "overflow": bool(first and first.overflow),
            "summary": (f"first divergent op {first.name} ({first.op_type}): "
                        + (f"{first.overflow} values overflow float16" if first.overflow
                           else f"relative divergence {first.rel:.2e}")) if first else
            "no single op diverges beyond the per-op policy: the error accumulates"}
