"""The `compare` step: saved results judged against the first (the reference), into a `ParityReport`.

Reads a run's files (`Run`, `read_results`), checks what each file claims (`claims`), judges every
pair per output under its policy (`judge`, mergeable chunk by chunk) and localises failing emulated
pairs (`localize`). Needs numpy alone: results recorded on a phone are judged on a machine without
torch; only re-measuring a torch file's activation claims (when the model is at hand) loads the model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness import atomic
from harness.backend_names import DEVICE_BACKEND, EMULATED_BACKEND
from harness.errors import UsageError
from harness.parity import claims
from harness.parity.compare import Comparison, merge
from harness.parity.compare import compare as compare_outputs
from harness.parity.localize import localize
from harness.parity.tolerances import Overrides, Policy, get_policy, policy_for
from harness.parity.verdict import (
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
from harness.records import ArtifactCheck, Cases
from harness.results import (
    CASES_FILE,
    RUN_FILE,
    CaseFile,
    Inputs,
    Reading,
    Results,
    ResultsError,
    RunIndex,
)

if TYPE_CHECKING:
    from harness.spec import ModelSpec

Progress = Callable[[str], None]


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



# -- judging -------------------------------------------------------------------------------------

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


def as_read(reading: Reading, reference: np.ndarray, candidate: np.ndarray, *, policy: Policy, output: str,
            decision_mask: np.ndarray | None = None, inputs=None, activations: np.ndarray | None = None,
            reference_name: str = "reference", candidate_name: str = "candidate", call: int = 0) -> Comparison:
    """One output of one pair judged as the app reads the model: the decided output by its rule and
    threshold, every other by its numbers alone. Every comparison of a model's outputs goes through here
    (parity, the benchmarks' fuzzing, the frontends), so none restates the model's threshold or rule.
    `call`: of a stateful model, which call of each case's sequence (1 is the first) the outputs are."""
    decided = output == reading.decided_output
    judged = compare_outputs(reference, candidate, policy=policy, threshold=reading.threshold,
                             decision=reading.decision if decided else "none",
                             decision_mask=decision_mask if decided else None, inputs=inputs, activations=activations,
                             reference_name=reference_name, candidate_name=candidate_name,
                             output=output if len(reading.outputs) > 1 else "")
    return replace(judged, call=call) if call else judged


#: What a Core ML state holds, whatever the program computes in: coremltools 9 declares every state float16,
#: so each write of a state rounds to it, and a stateful model's pairs are judged by the policy of that precision.
STATE_PRECISION = "fp16"


def _calls(reading: Reading) -> range:
    """The calls judged one by one: each of a stateful model's sequence; 0 alone (the outputs whole) otherwise."""
    return range(1, reading.steps + 1) if reading.steps else range(1)


def _judge(reading: Reading, cases: Cases, ref: Results, ref_label: str, ref_out: dict, cand: Results,
           cand_label: str, cand_out: dict, named: Policy | None, output: str,
           activations: np.ndarray | None, overrides: Overrides | None = None, call: int = 0) -> Comparison:
    for out, label in ((ref_out, ref_label), (cand_out, cand_label)):
        if output not in out:
            raise ResultsError(f"{label} has no output {output!r} (it has {', '.join(out) or 'none'})")
    precisions = (ref.precision, cand.precision) + ((STATE_PRECISION,) if reading.steps else ())
    reference, candidate = ref_out[output], cand_out[output]
    if call:
        if np.ndim(reference) < 2 or np.ndim(candidate) < 2:
            raise ResultsError(f"cannot compare output {output!r}: a stateful model's outputs hold every call")
        reference, candidate = reference[:, call - 1], candidate[:, call - 1]
    try:
        return as_read(reading, reference, candidate, output=output,
                       policy=(overrides or Overrides()).apply(named or policy_for(*precisions)),
                       decision_mask=cases.decision_mask, activations=activations,
                       reference_name=ref_label, candidate_name=cand_label, call=call)
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
                              label, outputs[label], named, output, measured, overrides, call)
                       for label in labels[1:] if label in outputs for output in reading.outputs
                       for call in _calls(reading)]
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
            localizations: Localizations, precision: tuple = ()) -> ParityReport:
    """The report of judged runs: only figures, no outputs."""
    return ParityReport(
        model=model, weights_source=weights_source, trained=trained,
        inputs=inputs, kinds=judged.kinds, case_kinds=dict(judged.case_kinds), reference=labels[0],
        threshold=reading.threshold,
        runs=tuple(BackendRun(label, r.precision, r.status, r.reason, r.seconds, _where(r))
                   for label, r in zip(labels, runs, strict=True)),
        comparisons=judged.comparisons, artifact_checks=tuple(artifact_checks), localizations=localizations,
        devices=_devices(labels, runs, judged), figures=finish_figures(judged.figures, judged.comparisons),
        precision=precision, steps=reading.steps)


def compare(case_file: CaseFile, results: Sequence[Results], *, policy: Policy | None = None,
            artifact_checks: Sequence[ArtifactCheck] = (), artifacts: str | Path | None = None,
            spec: ModelSpec | None = None, overview: bool = False, progress: Progress | None = None,
            overrides: Overrides | None = None, explain: bool = False) -> ParityReport:
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
    localizations, classes = Localizations(), ()
    if artifacts is not None and not case_file.reading.steps:  # localising replays single calls: not sequences
        runs = dict(zip(labels, results, strict=True))
        localizations = localize(case_file.cases.take, len(case_file.cases), judged.comparisons, runs, artifacts,
                                 spec=spec, overview=overview, progress=progress)
        if spec is not None:
            from harness.parity import expectation  # the float64 run needs the model, and torch with it

            classes = expectation.estimate(
                spec, Path(artifacts), expectation.worth_classifying(judged.comparisons, explain), runs,
                case_file.reading, len(case_file.cases), case_file.cases.take,
                lambda label, cases, _feeds: {k: v[cases] for k, v in runs[label].outputs.items()},
                progress or (lambda _m: None))
    return _report(case_file.model, case_file.weights_source, case_file.trained, case_file.reading, case_file.inputs,
                   labels, results, judged, artifact_checks, localizations, classes)


#: Cases whose claimed activations are measured again when the model is at hand: the largest claims.
REMEASURED_CASES = 16


def _check_measured(case_file: CaseFile, results: Sequence[Results], spec: ModelSpec) -> None:
    """A torch results file's activations scale every allowance: with the model at hand (and its weights
    the cases'), the cases it claims the most for are measured again, and a claim past the measurement
    is refused. Any claim left unmeasured is then at most the largest ones measured: no allowance grows
    past what the model's layers really reach (a reference claiming 1e4 on seven cases let outputs
    collapsed there pass)."""
    from harness.backends.pytorch import TorchBackend
    from harness.spec import built, weights_sha256

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
