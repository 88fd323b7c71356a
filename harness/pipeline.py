"""The steps, each one function that the CLI, the API and the pytest plugin call: run -> compare -> report.

- `run`: export (or reuse), run the backends on seeded cases -> a `Run` (the cases, one
  `Results` per backend, the artifact checks), saved as a folder of portable JSON files;
- `compare`: results against the first (the reference) under named policies, refusing
  results over other inputs or of another model; each device's numbers measured against
  every other backend; failing emulated pairs localised (`localize`, its own saved result);
- `report`: text, JSON and HTML from a `ParityReport`, drawing only on what it holds;
- `parity`: the three in one go, the model built once.

As Polygraphy separates running from comparing: results from a Mac or a phone are judged
on Linux against the same inputs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.backends import Backend
from harness.compare import Comparison
from harness.compare import compare as compare_outputs
from harness.coreml_artifact import ArtifactCheck, check_coreml_artifact
from harness.errors import HarnessError, UsageError
from harness.export import ensure_exported
from harness.export.manifest import Manifest, sha256_path
from harness.parity import (
    BackendRun,
    DeviceMatch,
    Distance,
    Localizations,
    ParityReport,
    artifact_check,
    figures,
)
from harness.results import CASES_FILE, CaseFile, Inputs, Reading, Results, ResultsError, RunIndex, provenance
from harness.spec import ModelSpec
from harness.tolerances import Policy, get_policy, policy_for

Progress = Callable[[str], None]
#: Cases localised per failing pair (its flips and worst case first), and in the per-op overview.
LOCALIZED_CASES = 16
OVERVIEW_CASES = 32
#: Backends whose numbers come from real CoreML (a Mac or a phone): measured against the emulation.
DEVICE_BACKEND = "coreml"
EMULATED_BACKEND = "coreml-emulated"


def _quiet(_msg: str) -> None:
    pass


def export_folder(spec: ModelSpec) -> Path:
    """Where a model's exports go unless told otherwise."""
    return Path("artifacts") / spec.name


def built(spec: ModelSpec) -> ModelSpec:
    """`spec` with its module built once: the staleness check, the export and the torch backend
    then share that module instead of each building (and loading weights) again."""
    module = spec.build()
    return dataclasses.replace(spec, build=lambda: module)


# -- run --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """One run: the cases, each backend's results in order (the first is the reference), the artifact checks."""

    cases: CaseFile
    results: tuple[Results, ...]
    artifact_checks: tuple[ArtifactCheck, ...] = ()
    folder: Path | None = None  # the export folder it ran from (None when read back from files)

    def write(self, out: str | Path) -> Path:
        """`out/cases.json`, one results file per backend, then `out/run.json` naming them in order.

        File by file (each atomic), so results recorded elsewhere and copied into `out` stay."""
        out = Path(out)
        self.cases.write(out / CASES_FILE)
        for r in self.results:
            r.write(out / r.file_name)
        RunIndex(tuple(r.file_name for r in self.results),
                 tuple(a.to_dict() for a in self.artifact_checks)).write(out)
        return out

    @classmethod
    def read(cls, folder: str | Path) -> Run:
        folder = Path(folder)
        index = RunIndex.read(folder)
        try:
            checks = tuple(artifact_check(a) for a in index.artifact_checks)
        except (KeyError, TypeError, ValueError) as err:
            raise ResultsError(f"{folder / 'run.json'}: an artifact check is malformed ({err})") from None
        return cls(CaseFile.read(folder / CASES_FILE), tuple(Results.read(folder / f) for f in index.results),
                   checks)


def _run_one(backend: Backend, spec: ModelSpec, manifest: Manifest, folder: Path, case_file: CaseFile,
             inputs: Inputs, extra: dict) -> Results:
    option = str(getattr(backend, backend.option)) if backend.option else ""
    base = dict(model=spec.name, weights_sha256=manifest.weights_sha256, backend=backend.label,
                precision=backend.precision, option=option, inputs=inputs, provenance=provenance(extra))
    reason = backend.unavailable_reason()
    if reason:
        return Results(**base, status="unavailable", reason=reason)
    start = time.perf_counter()
    try:
        backend.load(spec, manifest, folder)
        out = backend.run(case_file.cases.feeds)
    except Exception as err:  # reported, and fails the run; never hidden
        return Results(**base, status="failed", reason=f"{type(err).__name__}: {err}")
    outputs = {t.name: np.asarray(out[t.name], dtype=np.float32) for t in spec.outputs}
    return Results(**base, status="ran", outputs=outputs, seconds=time.perf_counter() - start)


def run(spec: ModelSpec, backends: Sequence[Backend], *, n: int, seed: int, folder: str | Path | None = None,
        progress: Progress | None = None) -> Run:
    """Export (or reuse) `spec` in `folder`, and run `n` cases from `seed` through every backend."""
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    if not backends:
        raise UsageError("no backends to run")
    say = progress or _quiet
    spec = built(spec)
    folder = Path(folder or export_folder(spec))
    manifest = ensure_exported(spec, folder, progress=say)
    case_file = CaseFile(spec.name, manifest.weights_sha256, spec.weights_source, spec.trained, Reading.of(spec),
                         spec.make_cases(n, seed))
    inputs = case_file.inputs
    export = {"export": {f"{a.format}@{a.precision}": a.sha256 for a in manifest.artifacts}}
    results = []
    for backend in backends:
        reason = backend.unavailable_reason()
        say(f"skipping {backend.label}: {reason}" if reason else f"running {backend.label} on {n:,} cases")
        results.append(_run_one(backend, spec, manifest, folder, case_file, inputs, export))
    checks = tuple(check_coreml_artifact(spec, a, folder) for a in manifest.artifacts if a.format == "coreml")
    return Run(case_file, tuple(results), checks, folder)


def read_results(paths: Sequence[str | Path], cases: str | Path | None = None) -> Run:
    """Results named on a command line: a run folder stands for its results in run order (its
    artifact checks come along); files are read as they are. The cases come from `cases`, or the
    first run folder named, or the `cases.json` beside the first results file."""
    if not paths:
        raise UsageError("name at least one results file or run folder")
    results: list[Results] = []
    checks: tuple[ArtifactCheck, ...] = ()
    found = None
    for p in map(Path, paths):
        if p.is_dir():
            done = Run.read(p)
            results += done.results
            checks = checks or done.artifact_checks
            found = found or p / CASES_FILE
        else:
            results.append(Results.read(p))
            if found is None and (p.parent / CASES_FILE).is_file():
                found = p.parent / CASES_FILE
    chosen = Path(cases) if cases else found
    if chosen is None:
        raise UsageError(f"no {CASES_FILE} beside {paths[0]}: name the run folder `python -m harness run --out` "
                         "wrote, or pass --cases")
    return Run(CaseFile.read(chosen), tuple(results), checks)


# -- compare ---------------------------------------------------------------------------------------

def _labels(results: Sequence[Results]) -> list[str]:
    """Each run's label, made unique with its device when two runs share one (two phones, one setting)."""
    labels = [r.backend for r in results]
    out = []
    for r, label in zip(results, labels, strict=True):
        if labels.count(label) > 1:
            label = f"{label} on {r.provenance.get('device', '?')}"
        while label in out:
            label += "'"
        out.append(label)
    return out


def _check_same(case_file: CaseFile, results: Sequence[Results]) -> None:
    """Refuse results of another model or over other inputs: their comparison would mean nothing."""
    inputs = case_file.inputs
    for r in results:
        if (r.model, r.weights_sha256) != (case_file.model, case_file.weights_sha256):
            raise ResultsError(f"{r.describe()} is model {r.model!r} (weights {r.weights_sha256[:12]}), the cases are "
                               f"for {case_file.model!r} (weights {case_file.weights_sha256[:12]}): not comparable")
        if r.inputs.sha256 != inputs.sha256:
            raise ResultsError(f"{r.describe()} ran on other inputs ({r.inputs.count} cases, seed {r.inputs.seed}, "
                               f"sha256 {r.inputs.sha256[:12]}) than the cases ({inputs.count} cases, seed "
                               f"{inputs.seed}, sha256 {inputs.sha256[:12]}): run again with --n {r.inputs.count} "
                               f"--seed {r.inputs.seed}")


def _judge(case_file: CaseFile, ref: Results, ref_label: str, cand: Results, cand_label: str,
           named: Policy | None, output: str) -> Comparison:
    reading, cases = case_file.reading, case_file.cases
    for r, label in ((ref, ref_label), (cand, cand_label)):
        if output not in r.outputs:
            raise ResultsError(f"{label} has no output {output!r} (it has {', '.join(r.outputs) or 'none'})")
    decided = output == reading.decided_output
    try:
        return compare_outputs(
            ref.outputs[output], cand.outputs[output], policy=named or policy_for(ref.precision, cand.precision),
            threshold=reading.threshold, decision=reading.decision if decided else "none",
            decision_mask=cases.decision_mask if decided else None, inputs=cases.feeds,
            reference_name=ref_label, candidate_name=cand_label,
            output=output if len(reading.outputs) > 1 else "")
    except ValueError as err:  # a shape that does not match the reference's
        raise ResultsError(f"cannot compare output {output!r}: {err}") from None


def _devices(case_file: CaseFile, ran: dict[str, Results], named: Policy | None) -> tuple[DeviceMatch, ...]:
    """Each device run (real CoreML) against every other run, on the decided output."""
    output = case_file.reading.decided_output
    matches = []
    for label, device in ran.items():
        if device.name != DEVICE_BACKEND:
            continue
        distances = []
        for other_label, other in ran.items():
            if other_label == label:
                continue
            c = _judge(case_file, other, other_label, device, label, named, output)
            distances.append(Distance(other_label, c.policy.name, c.mean_abs, c.max_abs, c.decisions_agreeing,
                                      c.decisions_compared, c.verdict))
        emulated = [d for d in distances if ran[d.backend].name == EMULATED_BACKEND]
        closest = min(emulated, key=lambda d: (d.mean_abs, d.max_abs)).backend if emulated else ""
        where = ", ".join(v for v in (device.provenance.get("device"), device.provenance.get("os")) if v)
        matches.append(DeviceMatch(label, where, tuple(distances), closest))
    return tuple(matches)


def compare(case_file: CaseFile, results: Sequence[Results], *, policy: Policy | None = None,
            artifact_checks: Sequence[ArtifactCheck] = (), artifacts: str | Path | None = None,
            spec: ModelSpec | None = None, overview: bool = False, progress: Progress | None = None) -> ParityReport:
    """Judge every run against the first, per output, under the named policy (or by precision).

    With `artifacts` (the export folder), failing emulated pairs are localised (and, with
    `overview`, the fp16 program profiled op by op for the report); `spec` adds torch module
    paths to the ops it names.
    """
    if not results:
        raise UsageError("no results to compare")
    _check_same(case_file, results)
    say = progress or _quiet
    labels = _labels(results)
    ran = {label: r for label, r in zip(labels, results, strict=True) if r.status == "ran"}
    reading = case_file.reading
    named = policy or (get_policy(reading.policy) if reading.policy else None)
    reference = labels[0]
    comparisons = []
    if reference in ran:
        for label in labels[1:]:
            if label in ran:
                comparisons += [_judge(case_file, ran[reference], reference, ran[label], label, named, output)
                                for output in reading.outputs]
    localizations = Localizations()
    if artifacts is not None:
        localizations = localize(case_file, comparisons, ran, artifacts, spec=spec, overview=overview, progress=say)
    decided = {label: r.outputs[reading.decided_output] for label, r in ran.items()}
    runs = tuple(BackendRun(label, r.precision, r.status, r.reason, r.seconds,
                            ", ".join(v for v in (r.provenance.get("device"), r.provenance.get("os")) if v))
                 for label, r in zip(labels, results, strict=True))
    return ParityReport(
        model=case_file.model, weights_source=case_file.weights_source, trained=case_file.trained,
        inputs=case_file.inputs, kinds=case_file.cases.kinds, reference=reference, threshold=reading.threshold,
        runs=runs, comparisons=tuple(comparisons), artifact_checks=tuple(artifact_checks),
        localizations=localizations, devices=_devices(case_file, ran, named),
        figures=figures(case_file.cases, reading.threshold, reading.decision, reference, comparisons, decided))


# -- localize --------------------------------------------------------------------------------------

def _program(folder: Path, r: Results, precision: str, say: Progress):
    """The CoreML program `r` ran (checked by sha256 against what it recorded), or None, said why."""
    from harness.mil import load_program

    try:
        artifact = Manifest.read(folder).artifact("coreml", precision)
        recorded = r.provenance.get("export", {}).get(f"coreml@{precision}") if r is not None else None
        if recorded is not None and recorded != artifact.sha256:
            say(f"not localizing {r.backend}: the coreml@{precision} artifact in {folder} is not the one it ran")
            return None
        if sha256_path(folder / artifact.path) != artifact.sha256:
            say(f"not localizing: {artifact.path} in {folder} changed since export")
            return None
        return load_program(folder / artifact.path)
    except (HarnessError, OSError) as err:
        say(f"not localizing: {err}")
        return None


def localize(case_file: CaseFile, comparisons: Sequence[Comparison], ran: dict[str, Results],
             artifacts: str | Path, *, spec: ModelSpec | None = None, overview: bool = False,
             progress: Progress | None = None) -> Localizations:
    """Where each failing emulated pair first diverges from the same program under the fp32 profile
    (on its flipped and worst cases), and with `overview` the fp16 program op by op on the first cases."""
    from harness.mil.localize import localize as localize_program
    from harness.mil.localize import torch_module_paths

    say = progress or _quiet
    folder = Path(artifacts)
    cases = case_file.cases
    failing = [c for c in comparisons if not c and ran[c.candidate].name == EMULATED_BACKEND]
    if not failing and not overview:
        return Localizations()
    modules = torch_module_paths(spec.build(), spec.examples(batch=1)) if spec is not None else {}
    pairs = {}
    for c in failing:
        r = ran[c.candidate]
        program = _program(folder, r, r.precision, say)
        if program is None:
            continue
        say(f"localizing {c.pair}")
        worst = sorted({f.case for f in c.flips} | {c.worst[0]})[:LOCALIZED_CASES]
        pairs[c.pair] = localize_program(program, cases.take(worst), "fp32", r.option, cases=worst, modules=modules)
    whole = None
    if overview:
        fp16 = next((r for r in ran.values() if r.name == EMULATED_BACKEND and r.precision == "fp16"), None)
        program = _program(folder, fp16, "fp16", say)
        if program is not None:
            first = list(range(min(OVERVIEW_CASES, len(cases))))
            whole = localize_program(program, cases.take(first), "fp32", "fp16-storage", cases=first,
                                     modules=modules)
    return Localizations(pairs, whole)


# -- report and parity -----------------------------------------------------------------------------

def report(parity_report: ParityReport, *, json: str | Path | None = None, html: str | Path | None = None) -> str:
    """The text table; with `json`/`html`, also those files. Draws only on what the report holds."""
    from harness import html_report
    from harness.report import format_report

    if json:
        parity_report.write(json)
    if html:
        html_report.write(parity_report, html)
    return format_report(parity_report)


def parity(spec: ModelSpec, backends: Sequence[Backend], *, n: int, seed: int, folder: str | Path | None = None,
           policy: Policy | None = None, overview: bool = False, save: str | Path | None = None,
           progress: Progress | None = None) -> ParityReport:
    """`run`, then `compare` (localising in the export folder): one model build for both.

    `save`: also write the run's files there. `overview`: profile the fp16 program op by op for the report.
    """
    spec = built(spec)
    done = run(spec, backends, n=n, seed=seed, folder=folder, progress=progress)
    if save:
        done.write(save)
    return compare(done.cases, done.results, policy=policy, artifact_checks=done.artifact_checks,
                   artifacts=done.folder, spec=spec, overview=overview, progress=progress)
