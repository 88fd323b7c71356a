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
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import atomic, claims
from harness import cases as chunking
from harness.backends import Backend, targets
from harness.compare import Comparison, merge
from harness.compare import compare as compare_outputs
from harness.coreml_artifact import ArtifactCheck, check_coreml_artifact
from harness.errors import HarnessError, UsageError
from harness.export import ensure_exported
from harness.export.manifest import Manifest, sha256_path
from harness.mlpackage import weights_sha256
from harness.parity import (
    BackendRun,
    DeviceMatch,
    Distance,
    Localizations,
    ParityReport,
    artifact_check,
    figures,
    finish_figures,
    merge_figures,
)
from harness.progress import bar
from harness.results import (
    CASES_FILE,
    RUN_FILE,
    CaseFile,
    Inputs,
    Reading,
    Results,
    ResultsError,
    RunIndex,
    provenance,
)
from harness.spec import Cases, ModelSpec
from harness.tolerances import FP32, Overrides, Policy, get_policy, policy_for

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
    sources: tuple[Path, ...] = ()  # the files it was read from (none when it ran here)

    def write(self, out: str | Path) -> Path:
        """`out/cases.json`, one results file per backend, then `out/run.json` naming them in order.

        File by file (each atomic), so results recorded elsewhere and copied into `out` stay. `out` is
        a real folder (not a symlink to one) or made here."""
        out = atomic.check_folder(out)
        self.cases.write(out / CASES_FILE)
        for r in self.results:
            r.write(out / r.file_name)
        RunIndex(tuple(r.file_name for r in self.results),
                 tuple(a.to_dict() for a in self.artifact_checks)).write(out)
        return out

    @classmethod
    def read(cls, folder: str | Path) -> Run:
        folder = Path(folder)
        cases = CaseFile.read(folder / CASES_FILE)
        results, checks, files = _read_folder(folder, cases)
        return cls(cases, results, checks, sources=(folder / CASES_FILE, *files))


def _read_folder(folder: Path, cases: CaseFile) -> tuple[tuple[Results, ...], tuple[ArtifactCheck, ...],
                                                        tuple[Path, ...]]:
    """A run folder's results (each read no larger than `cases` allows), artifact checks, and the files read."""
    index = RunIndex.read(folder)
    try:
        checks = tuple(artifact_check(a) for a in index.artifact_checks)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
        raise ResultsError(f"{folder / 'run.json'}: an artifact check is malformed ({err})") from None
    files = tuple(folder / f for f in index.results)
    return tuple(Results.read(f, cases.results_limit()) for f in files), checks, (folder / RUN_FILE, *files)


def _start(spec: ModelSpec, backends: Sequence[Backend], n: int, seed: int, folder: str | Path | None,
           say: Progress):
    """Make the first chunk of cases (so a broken `make_inputs` is named before any export), export (or
    reuse), and load every backend once: (folder, manifest, streamed backends, their labels, first chunk).
    The first backend is the reference: it runs its first chunk twice, and a model that disagrees with
    itself is reported as such instead of judged."""
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    if not backends:
        raise UsageError("no backends to run")
    first = chunking.make_chunk(spec, 0, chunking.size(n, 0), seed)
    folder = Path(folder or export_folder(spec))
    manifest = ensure_exported(spec, folder, progress=say,
                               targets=targets(b for b in backends if not b.unavailable_reason()))
    runs = [_Streamed(b, spec, manifest, folder, say, n, reference=i == 0) for i, b in enumerate(backends)]
    return folder, manifest, runs, _labels([r.results() for r in runs]), first


def _checks(spec: ModelSpec, manifest: Manifest, folder: Path) -> tuple[ArtifactCheck, ...]:
    return tuple(check_coreml_artifact(spec, a, folder) for a in manifest.artifacts if a.format == "coreml")


def run(spec: ModelSpec, backends: Sequence[Backend], *, n: int, seed: int, folder: str | Path | None = None,
        progress: Progress | None = None) -> Run:
    """Export (or reuse) `spec` in `folder`, and run `n` cases from `seed` through every backend,
    keeping every output. Backends see the cases a chunk at a time, as in `parity`, so both get
    the same numbers (a backend's float results can depend on the batch it runs in)."""
    say = progress or _quiet
    spec = built(spec)
    folder, manifest, runs, labels, first = _start(spec, backends, n, seed, folder, say)
    made, kept, measured = [], [[] for _ in runs], [[] for _ in runs]
    with bar(progress, n, f"running {spec.name}", "case") as shown:
        for _, chunk in chunking.chunks(spec, n, seed, first=first):
            made.append(chunk)
            for r, label, outputs, seen in zip(runs, labels, kept, measured, strict=True):
                shown.set_postfix_str(label)
                if (out := r.run(chunk)) is not None:
                    outputs.append(out)
                    seen.append(r.activations)
            shown.update(len(chunk))
    case_file = CaseFile(spec.name, manifest.weights_sha256, spec.weights_source, spec.trained, Reading.of(spec),
                         chunking.join(made, seed), coreml_weights={
                             a.precision: weights_sha256(folder / a.path) for a in manifest.artifacts
                             if a.format == "coreml"},
                         executorch_programs={f"{a.format.removeprefix('executorch-')}@{a.precision}": a.sha256
                                              for a in manifest.artifacts if a.format.startswith("executorch-")})
    results = tuple(dataclasses.replace(
        r.results(), inputs=case_file.inputs,
        outputs={t.name: np.concatenate([o[t.name] for o in outputs]) for t in spec.outputs} if r.status == "ran"
        else {},
        activations=np.concatenate(seen) if r.status == "ran" and all(a is not None for a in seen) else None)
        for r, outputs, seen in zip(runs, kept, measured, strict=True))
    return Run(case_file, results, _checks(spec, manifest, folder), folder)


def read_results(paths: Sequence[str | Path], cases: str | Path | None = None) -> Run:
    """Results named on a command line: a run folder stands for its results in run order (its
    artifact checks come along); files are read as they are. The cases come from `cases`, or the
    first run folder named, or the `cases.json` beside the first results file; they are read
    first, so that no results file is read past the size its outputs can take."""
    if not paths:
        raise UsageError("name at least one results file or run folder")
    paths = [Path(p) for p in paths]
    found = next((p / CASES_FILE if p.is_dir() else p.parent / CASES_FILE for p in paths
                  if p.is_dir() or (p.parent / CASES_FILE).is_file()), None)
    chosen = Path(atomic.named(cases)) if cases is not None else found  # "" names no file: not the default
    if chosen is None:
        raise UsageError(f"no {CASES_FILE} beside {paths[0]}: name the run folder `python -m harness run --out` "
                         "wrote, or pass --cases")
    case_file = CaseFile.read(chosen)
    results: list[Results] = []
    checks: tuple[ArtifactCheck, ...] = ()
    sources = [chosen]
    for p in paths:
        if p.is_dir():
            ran, checked, files = _read_folder(p, case_file)
            results += ran
            checks = checks or checked
            sources += files
        else:
            results.append(Results.read(p, case_file.results_limit()))
            sources.append(p)
    return Run(case_file, tuple(results), checks, sources=tuple(sources))


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


def _judge(reading: Reading, cases: Cases, ref: Results, ref_label: str, ref_out: dict, cand: Results,
           cand_label: str, cand_out: dict, named: Policy | None, output: str,
           activations: np.ndarray | None, overrides: Overrides | None = None) -> Comparison:
    for out, label in ((ref_out, ref_label), (cand_out, cand_label)):
        if output not in out:
            raise ResultsError(f"{label} has no output {output!r} (it has {', '.join(out) or 'none'})")
    decided = output == reading.decided_output
    try:
        return compare_outputs(
            ref_out[output], cand_out[output],
            policy=(overrides or Overrides()).apply(named or policy_for(ref.precision, cand.precision)),
            threshold=reading.threshold, decision=reading.decision if decided else "none",
            decision_mask=cases.decision_mask if decided else None, activations=activations,
            reference_name=ref_label, candidate_name=cand_label,
            output=output if len(reading.outputs) > 1 else "")
    except ValueError as err:  # a shape that does not match the reference's
        raise ResultsError(f"cannot compare output {output!r}: {err}") from None


@dataclass(frozen=True)
class Judged:
    """What judging some cases gave, before localising: mergeable, so cases can be judged a chunk
    at a time and nothing but these figures is kept (`merge` numbers the later chunk's cases on)."""

    comparisons: tuple[Comparison, ...]  # each run against the reference, per output
    devices: dict[tuple[str, str], Comparison]  # (device run, other run) on the decided output
    figures: dict
    kinds: dict[int, str]  # what made each case the comparisons name
    case_kinds: Counter

    def merge(self, later: Judged, offset: int) -> Judged:
        """A pair missing from `later` (its backend stopped) keeps what it had."""
        then = {c.pair: c for c in later.comparisons}
        comparisons = tuple(merge(c, then[c.pair], offset) if c.pair in then else c for c in self.comparisons)
        devices = {k: merge(c, later.devices[k], offset) if k in later.devices else c for k, c in self.devices.items()}
        worse = {c.pair: bool(c.worst) and c.worst[0] >= offset for c in comparisons}  # merged: its worst case
        figures = merge_figures(self.figures, later.figures, worse, offset)
        kinds = {**self.kinds, **{k + offset: v for k, v in later.kinds.items()}}
        named = _named(comparisons)
        return Judged(comparisons, devices, figures, {k: v for k, v in kinds.items() if k in named},
                      self.case_kinds + later.case_kinds)


def _named(comparisons: Sequence[Comparison]) -> set[int]:
    """The cases a report names: flips, near flips and worst cases."""
    return ({f.case for c in comparisons for f in c.flips + c.near_flips}
            | {c.worst[0] for c in comparisons if c.worst})


def judge(reading: Reading, cases: Cases, labels: Sequence[str], runs: Sequence[Results],
          outputs: Mapping[str, dict], *, policy: Policy | None = None, overrides: Overrides | None = None,
          activations: Mapping[str, np.ndarray | None] | None = None) -> Judged:
    """Every run with outputs against the first (the reference), per output, and each device run
    against every other; `outputs`: label -> output name -> this batch's outputs. `overrides`: the
    user's atol/rtol per policy, applied to whichever policy judges a pair. `activations`: label ->
    per case, what the model's layers saw, where that run measured it (the allowance's scale).

    What the layers saw is the model's on these cases, whichever run is the reference: the torch run's
    measurement scales every pair. Without one, the scale is the reference's outputs alone, never the
    raw inputs (a model that clamps them sees far less: an allowance grown by them let collapsed
    outputs pass)."""
    measured = next((a for a in (activations or {}).values() if a is not None), None)
    named = policy or (get_policy(reading.policy) if reading.policy else None)
    by_label = dict(zip(labels, runs, strict=True))
    reference = labels[0]
    comparisons = []
    if reference in outputs:
        comparisons = [_judge(reading, cases, by_label[reference], reference, outputs[reference], by_label[label],
                              label, outputs[label], named, output, measured, overrides)
                       for label in labels[1:] if label in outputs for output in reading.outputs]
    devices = {(label, other): _judge(reading, cases, by_label[other], other, outputs[other], by_label[label],
                                      label, outputs[label], named, reading.decided_output, measured, overrides)
               for label in outputs if by_label[label].name == DEVICE_BACKEND
               for other in outputs if other != label}
    decided = {label: out[reading.decided_output] for label, out in outputs.items()}
    return Judged(tuple(comparisons), devices,
                  figures(cases, reading.threshold, reading.decision, reference, comparisons, decided),
                  {k: cases.kinds[k] for k in _named(comparisons)}, Counter(cases.kinds))


def _devices(labels: Sequence[str], runs: Sequence[Results], judged: Judged) -> tuple[DeviceMatch, ...]:
    """Each device run (real CoreML) against every other run: which emulation profile it falls closest to."""
    by_label = dict(zip(labels, runs, strict=True))
    matches = []
    for label in labels:
        pairs = [(other, c) for (device, other), c in judged.devices.items() if device == label]
        if not pairs:
            continue
        distances = [Distance(other, c.policy.name, c.mean_abs, c.max_abs, c.decisions_agreeing,
                              c.decisions_compared, c.verdict) for other, c in pairs]
        emulated = [d for d in distances if by_label[d.backend].name == EMULATED_BACKEND]
        closest = min(emulated, key=lambda d: (d.mean_abs, d.max_abs)).backend if emulated else ""
        matches.append(DeviceMatch(label, _where(by_label[label]), tuple(distances), closest))
    return tuple(matches)


def _where(r: Results) -> str:
    return ", ".join(v for v in (r.provenance.get("device"), r.provenance.get("os")) if v)


def _report(model: str, weights_source: str, trained: bool, reading: Reading, inputs: Inputs, labels: Sequence[str],
            runs: Sequence[Results], judged: Judged, artifact_checks: Sequence[ArtifactCheck],
            localizations: Localizations) -> ParityReport:
    """The report of judged runs: only figures, no outputs."""
    return ParityReport(
        model=model, weights_source=weights_source, trained=trained,
        inputs=inputs, kinds=judged.kinds, case_kinds=dict(judged.case_kinds), reference=labels[0],
        threshold=reading.threshold,
        runs=tuple(BackendRun(label, r.precision, r.status, r.reason, r.seconds, _where(r))
                   for label, r in zip(labels, runs, strict=True)),
        comparisons=judged.comparisons, artifact_checks=tuple(artifact_checks), localizations=localizations,
        devices=_devices(labels, runs, judged), figures=finish_figures(judged.figures, judged.comparisons))


def compare(case_file: CaseFile, results: Sequence[Results], *, policy: Policy | None = None,
            artifact_checks: Sequence[ArtifactCheck] = (), artifacts: str | Path | None = None,
            spec: ModelSpec | None = None, overview: bool = False, progress: Progress | None = None,
            overrides: Overrides | None = None) -> ParityReport:
    """Judge every run against the first, per output, under the named policy (or by precision), with the
    user's `overrides` of atol/rtol.

    With `artifacts` (the export folder), failing emulated pairs are localised (and, with
    `overview`, the fp16 program profiled op by op for the report); `spec` adds torch module
    paths to the ops it names, and holds the cases' reading (policy, rule, threshold) to the model's.
    """
    if not results:
        raise UsageError("no results to compare")
    claims.check(case_file, results, spec)
    if spec is not None:
        _check_measured(case_file, results, spec)
    labels = _labels(results)
    outputs = {label: r.outputs for label, r in zip(labels, results, strict=True) if r.status == "ran"}
    judged = judge(case_file.reading, case_file.cases, labels, results, outputs, policy=policy, overrides=overrides,
                   activations={label: r.activations for label, r in zip(labels, results, strict=True)})
    localizations = Localizations()
    if artifacts is not None:
        runs = dict(zip(labels, results, strict=True))
        localizations = localize(case_file.cases.take, len(case_file.cases), judged.comparisons, runs, artifacts,
                                 spec=spec, overview=overview, progress=progress)
    return _report(case_file.model, case_file.weights_source, case_file.trained, case_file.reading, case_file.inputs,
                   labels, results, judged, artifact_checks, localizations)


#: Cases whose claimed activations are measured again when the model is at hand: the largest claims.
REMEASURED_CASES = 16


def _check_measured(case_file: CaseFile, results: Sequence[Results], spec: ModelSpec) -> None:
    """A torch results file's activations scale every allowance: with the model at hand (and its weights
    the cases'), the cases it claims the most for are measured again, and a claim past the measurement
    is refused. Any claim left unmeasured is then at most the largest ones measured: no allowance grows
    past what the model's layers really reach (a reference claiming 1e4 on seven cases let outputs
    collapsed there pass)."""
    from harness.backends.pytorch import TorchBackend
    from harness.spec import weights_sha256

    claimed = [r for r in results if r.activations is not None]
    if not claimed:
        return
    torch_model = TorchBackend.of(built(spec))
    if weights_sha256(torch_model.module) != case_file.weights_sha256:
        return  # other weights than the cases': nothing here to measure the claim against
    for r in claimed:
        cases = np.sort(np.argsort(r.activations, kind="stable")[-REMEASURED_CASES:])
        _, measured = torch_model.run_measured(case_file.cases.take(cases))
        over = np.flatnonzero(r.activations[cases] > measured * (1 + 1e-3) + 1e-6)
        if len(over):
            k = int(over[0])
            raise ResultsError(f"{r.describe()} claims activations {r.activations[cases[k]]:.6g} on case "
                               f"{int(cases[k])}; model {spec.name!r} measures {measured[k]:.6g} there: the scale "
                               "of every allowance cannot be more than the model's layers reach")


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


def localize(feeds_at: Callable[[list[int]], dict[str, np.ndarray]], n: int, comparisons: Sequence[Comparison],
             runs: Mapping[str, Results], artifacts: str | Path, *, spec: ModelSpec | None = None,
             overview: bool = False, progress: Progress | None = None) -> Localizations:
    """Where each failing emulated pair first diverges from the same program under the fp32 profile
    (on its flipped and worst cases), and with `overview` the fp16 program op by op on the first cases.
    `feeds_at(cases)`: the inputs of those of the `n` cases."""
    from harness.mil.localize import localize as localize_program
    from harness.mil.localize import torch_module_paths

    say = progress or _quiet
    folder = Path(artifacts)
    failing = [c for c in comparisons  # a reference that gave NaN is broken itself: nothing to localise
               if c.verdict == "fail" and c.reference_non_finite == 0 and runs[c.candidate].name == EMULATED_BACKEND]
    if not failing and not overview:
        return Localizations()
    modules = torch_module_paths(spec.build(), spec.examples(batch=1)) if spec is not None else {}
    pairs = {}
    for c in failing:
        r = runs[c.candidate]
        program = _program(folder, r, r.precision, say)
        if program is None:
            continue
        say(f"localizing {c.pair}")
        worst = sorted({f.case for f in c.flips} | {c.worst[0]})[:LOCALIZED_CASES]
        pairs[c.pair] = localize_program(program, feeds_at(worst), "fp32", r.option, cases=worst, modules=modules)
    whole = None
    if overview:
        fp16 = next((r for r in runs.values() if r.status == "ran" and r.name == EMULATED_BACKEND
                     and r.precision == "fp16"), None)
        program = _program(folder, fp16, "fp16", say)
        if program is not None:
            first = list(range(min(OVERVIEW_CASES, n)))
            whole = localize_program(program, feeds_at(first), "fp32", "fp16-storage", cases=first,
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
           progress: Progress | None = None, overrides: Overrides | None = None) -> ParityReport:
    """`run`, then `compare` (localising in the export folder): one model build for both.

    Cases are made, run and judged a chunk at a time (`harness.cases.CHUNK`), so memory stays
    flat in `n`. `save`: also write the run's files there, which keeps every output (and so
    needs memory for them). `overview`: profile the fp16 program op by op for the report.
    """
    spec = built(spec)
    if save:
        done = run(spec, backends, n=n, seed=seed, folder=folder, progress=progress)
        done.write(save)
        return compare(done.cases, done.results, policy=policy, artifact_checks=done.artifact_checks,
                       artifacts=done.folder, spec=spec, overview=overview, progress=progress, overrides=overrides)
    say = progress or _quiet
    folder, manifest, runs, labels, first = _start(spec, backends, n, seed, folder, say)
    chunks = chunking.count(n)
    reading, digest, judged = Reading.of(spec), chunking.FeedsDigest(spec, n, seed), None
    every = max(1, chunks // 20)
    with bar(progress, n, f"parity {spec.name}", "case") as shown:
        for j, (offset, chunk) in enumerate(chunking.chunks(spec, n, seed, first=first)):
            digest.update(chunk)
            outputs = {}
            for label, r in zip(labels, runs, strict=True):
                shown.set_postfix_str(label)
                if (out := r.run(chunk)) is not None:
                    outputs[label] = out
            shown.set_postfix_str("judging")
            part = judge(reading, chunk, labels, [r.results() for r in runs], outputs, policy=policy,
                         overrides=overrides,
                         activations={label: r.activations for label, r in zip(labels, runs, strict=True)})
            judged = part if judged is None else judged.merge(part, offset)
            shown.update(len(chunk))
            if chunks > 1 and ((j + 1) % every == 0 or j + 1 == chunks):
                say(f"judged {offset + len(chunk):,} of {n:,} cases")
    finished = [r.results() for r in runs]
    failed = {label for label, r in zip(labels, finished, strict=True) if r.status == "failed"}
    judged = dataclasses.replace(  # a run that stopped part way is reported failed, not judged on part of the cases
        judged, comparisons=tuple(c for c in judged.comparisons if not {c.candidate, c.reference} & failed),
        devices={k: c for k, c in judged.devices.items() if not set(k) & failed})
    inputs = Inputs(seed, n, digest.finish())
    localizations = localize(lambda index: chunking.take(spec, n, seed, index), n, judged.comparisons,
                             dict(zip(labels, finished, strict=True)), folder, spec=spec, overview=overview,
                             progress=say)
    return _report(spec.name, spec.weights_source, spec.trained, reading, inputs, labels, finished, judged,
                   _checks(spec, manifest, folder), localizations)


#: A reference that gives other outputs for the same inputs: its run's status (nothing is judged against it).
NONDETERMINISTIC = "nondeterministic"


def disagreement(first: Mapping[str, np.ndarray], again: Mapping[str, np.ndarray]) -> str:
    """Where two runs of one backend on the same cases differ by more than float32 rounding (the fp32
    policy's atol and rtol), in words; "" when they agree. NaN agrees with NaN."""
    for name, a in first.items():
        b = np.asarray(again[name], np.float64)
        a = np.asarray(a, np.float64)
        with np.errstate(invalid="ignore"):
            apart = np.abs(a - b) > FP32.atol + FP32.rtol * np.abs(a)
        apart |= np.isnan(a) != np.isnan(b)
        if apart.any():
            diff = np.where(np.isnan(a) | np.isnan(b), np.inf, np.abs(a - b))
            worst = np.unravel_index(int(np.argmax(np.where(apart, diff, -1))), a.shape)
            return (f"two runs on the same {len(a):,} cases differ in {int(apart.sum()):,} of {a.size:,} values of "
                    f"output {name!r} (case {worst[0]}: {a[worst]:.6g} then {b[worst]:.6g}): a random op is left "
                    "on in the model, such as dropout (F.dropout's training defaults to True); no backend was judged "
                    "against it")
    return ""


class _Streamed:
    """One backend loaded once and run chunk by chunk; its `Results` carry no outputs.

    The reference (`reference=True`) runs its first chunk twice: outputs that change between two runs on
    the same inputs make every comparison meaningless, so it then stops as NONDETERMINISTIC, with where."""

    def __init__(self, backend: Backend, spec: ModelSpec, manifest: Manifest, folder: Path, say: Progress, n: int,
                 reference: bool = False):
        self.backend, self.spec, self.repeat = backend, spec, reference
        option = str(getattr(backend, backend.option)) if backend.option else ""
        export = {"export": {f"{a.format}@{a.precision}": a.sha256 for a in manifest.artifacts}}
        self.base = dict(model=spec.name, weights_sha256=manifest.weights_sha256, backend=backend.label,
                         precision=backend.precision, option=option, inputs=Inputs(None, n, "0" * 64),
                         provenance=provenance(export))
        self.status, self.reason, self.seconds = "ran", backend.unavailable_reason() or "", 0.0
        self.activations: np.ndarray | None = None  # the last chunk's, where the backend measures them
        if self.reason:
            self.status = "unavailable"
            say(f"skipping {backend.label}: {self.reason}")
            return
        say(f"running {backend.label} on {n:,} cases")
        start = time.perf_counter()
        try:
            backend.load(spec, manifest, folder)
            self.base["loaded_weights_sha256"] = backend.loaded_weights_sha256
        except Exception as err:  # reported, and fails the run; never hidden
            self.status, self.reason = "failed", f"{type(err).__name__}: {err}"
        self.seconds += time.perf_counter() - start

    def run(self, chunk: Cases) -> dict[str, np.ndarray] | None:
        """This chunk's outputs, or None once the backend cannot run (it stays failed)."""
        self.activations = None  # never a previous chunk's: they scale this chunk's pairs
        if self.status != "ran":
            return None
        start = time.perf_counter()
        try:
            outputs = self._outputs(chunk)
        except Exception as err:
            self.status, self.reason = "failed", f"{type(err).__name__}: {err}"
            return None
        finally:
            self.seconds += time.perf_counter() - start
        if self.repeat:
            self.repeat = False
            try:
                differ = disagreement(outputs, self._outputs(chunk))
            except Exception as err:
                self.status, self.reason = "failed", f"{type(err).__name__}: {err} (running the reference again)"
                return None
            if differ:
                self.status, self.reason = NONDETERMINISTIC, differ
                return None
        return outputs

    def _outputs(self, chunk: Cases) -> dict[str, np.ndarray]:
        out, self.activations = self.backend.run_measured(chunk.feeds)
        return {t.name: np.asarray(out[t.name], dtype=np.float32) for t in self.spec.outputs}

    def results(self) -> Results:
        return Results(**self.base, status=self.status, reason=self.reason, seconds=self.seconds)
