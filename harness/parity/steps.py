"""The steps the CLI, the API and the pytest plugin call: run -> compare -> report, and parity for all three.

- `run`: export (or reuse), run the backends on seeded cases -> a `Run` (the cases, one
  `Results` per backend, the artifact checks), saved as a folder of portable JSON files;
- `compare` (`harness.parity.judge`, numpy alone): results against the first (the reference)
  under named policies, each device's numbers against every other backend, failing emulated
  pairs localised (`harness.parity.localize`);
- `report` (`harness.report`): text, JSON and HTML drawn from a `ParityReport`;
- `parity`: run and compare a chunk at a time, the model built once, memory flat in `n`.

As Polygraphy separates running from comparing: results from a Mac or a phone are judged
on Linux against the same inputs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from harness.backends import Backend, targets
from harness.coreml_artifact import ArtifactCheck, check_coreml_artifact
from harness.errors import UsageError
from harness.export import ensure_exported
from harness.export.manifest import Manifest
from harness.mlpackage import weights_sha256
from harness.parity import cases as chunking
from harness.parity import expectation
from harness.parity.judge import Judged, Run, _labels, _report, compare, judge, read_results
from harness.parity.localize import localize
from harness.parity.tolerances import FP32, Overrides, Policy, policy_for
from harness.parity.verdict import Localizations, ParityReport
from harness.progress import Paced, bar
from harness.records import Cases
from harness.results import CaseFile, Inputs, Reading, Results, provenance
from harness.spec import ModelSpec, built

__all__ = ["Run", "built", "compare", "export_folder", "parity", "read_results", "run"]

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def export_folder(spec: ModelSpec) -> Path:
    """Where a model's exports go unless told otherwise."""
    return Path("artifacts") / spec.name


# -- run --------------------------------------------------------------------------------------------

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
    check_backends(spec, backends)
    first = chunking.make_chunk(spec, 0, chunking.size(n, 0), seed)
    folder = Path(folder or export_folder(spec))
    runnable = (b for b in backends if not b.unavailable_reason() and not b.refuses(spec))
    manifest = ensure_exported(spec, folder, progress=say, targets=targets(runnable))
    runs = [Streamed(b, spec, manifest, folder, say, n, reference=i == 0) for i, b in enumerate(backends)]
    return folder, manifest, runs, _labels([r.results() for r in runs]), first


def check_backends(spec: ModelSpec, backends: Sequence[Backend]) -> None:
    """A backend the user named that refuses this model (`Backend.refuses`: ONNX for a stateful one) is a usage
    error, before any export; one from the default list is skipped later, with its reason in the report."""
    for b in backends:
        if b.named and (why := b.refuses(spec)):
            raise UsageError(f"{b.label} cannot run model {spec.name!r}: {why}")


def checks(spec: ModelSpec, manifest: Manifest, folder: Path) -> tuple[ArtifactCheck, ...]:
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
    return Run(case_file, results, checks(spec, manifest, folder), folder)


def parity(spec: ModelSpec, backends: Sequence[Backend], *, n: int, seed: int, folder: str | Path | None = None,
           policy: Policy | None = None, overview: bool = False, save: str | Path | None = None,
           progress: Progress | None = None, overrides: Overrides | None = None,
           explain: bool = False) -> ParityReport:
    """`run`, then `compare` (localising in the export folder): one model build for both.

    Cases are made, run and judged a chunk at a time (`harness.cases.CHUNK`), so memory stays
    flat in `n`. `save`: also write the run's files there, which keeps every output (and so
    needs memory for them). `overview`: profile the fp16 program op by op for the report.
    `explain`: set every pair against float64 and its precision's spread (`harness.parity.expectation`);
    failing pairs always are.
    """
    spec = built(spec)
    if save:
        done = run(spec, backends, n=n, seed=seed, folder=folder, progress=progress)
        done.write(save)
        return compare(done.cases, done.results, policy=policy, artifact_checks=done.artifact_checks,
                       artifacts=done.folder, spec=spec, overview=overview, progress=progress, overrides=overrides,
                       explain=explain)
    say = progress or _quiet
    folder, manifest, runs, labels, first = _start(spec, backends, n, seed, folder, say)
    chunks = chunking.count(n)
    reading, digest, judged = Reading.of(spec), chunking.FeedsDigest(spec, n, seed), None
    pace = Paced(chunks)
    with bar(progress, n, f"parity {spec.name}", "case") as shown:
        for j, (offset, chunk) in enumerate(chunking.chunks(spec, n, seed, first=first)):
            digest.update(chunk)
            part = judge_chunk(reading, chunk, labels, runs, policy=policy, overrides=overrides, shown=shown)
            judged = part if judged is None else judged.merge(part, offset)
            shown.update(len(chunk))
            if pace.due(j + 1):
                say(f"judged {offset + len(chunk):,} of {n:,} cases")
    by_label = dict(zip(labels, runs, strict=True))
    return finish(spec, n, seed, labels, [r.results() for r in runs], judged, digest.finish(), folder, manifest,
                  lambda label, feeds: by_label[label].again(feeds), overview=overview, explain=explain, say=say)


def judge_chunk(reading: Reading, chunk: Cases, labels: Sequence[str], runs: Sequence[Streamed], *,
                policy: Policy | None, overrides: Overrides | None, shown=None) -> Judged:
    """One chunk of cases through every loaded backend, judged: what `parity` merges, here or on a cluster
    worker (`harness.cluster`)."""
    outputs = {}
    for label, r in zip(labels, runs, strict=True):
        if shown is not None:
            shown.set_postfix_str(label)
        if (out := r.run(chunk)) is not None:
            outputs[label] = out
    if shown is not None:
        shown.set_postfix_str("judging")
    return judge(reading, chunk, labels, [r.results() for r in runs], outputs, policy=policy, overrides=overrides,
                 activations={label: r.activations for label, r in zip(labels, runs, strict=True)})


def finish(spec: ModelSpec, n: int, seed: int, labels: Sequence[str], finished: Sequence[Results], judged: Judged,
           feeds_sha256: str, folder: Path, manifest: Manifest,
           again: Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray] | None], *, overview: bool,
           explain: bool, say: Progress) -> ParityReport:
    """Every chunk judged and merged: drop the pairs of a run that stopped part way, localise failing pairs,
    class them (precision or bug; `again(label, feeds)`: that run's outputs on some cases again), report."""
    failed = {label for label, r in zip(labels, finished, strict=True) if r.status == "failed"}
    judged = dataclasses.replace(  # a run that stopped part way is reported failed, not judged on part of the cases
        judged, comparisons=tuple(c for c in judged.comparisons if not {c.candidate, c.reference} & failed),
        devices={k: c for k, c in judged.devices.items() if not set(k) & failed})
    reading, inputs = Reading.of(spec), Inputs(seed, n, feeds_sha256)
    if spec.stateful:  # localising and the float64 classes replay single calls, not sequences: the report names
        localizations, classes = Localizations(), ()  # the first failing call instead
    else:
        localizations = localize(lambda index: chunking.take(spec, n, seed, index), n, judged.comparisons,
                                 dict(zip(labels, finished, strict=True)), folder, spec=spec, overview=overview,
                                 progress=say)
        classes = expectation.estimate(
            spec, folder, expectation.worth_classifying(judged.comparisons, explain),
            dict(zip(labels, finished, strict=True)), reading, n, lambda index: chunking.take(spec, n, seed, index),
            lambda label, _cases, feeds: again(label, feeds), say)
    return _report(spec.name, spec.weights_source, spec.trained, reading, inputs, labels, finished, judged,
                   checks(spec, manifest, folder), localizations, classes)


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


def batch_dependence(whole: Mapping[str, np.ndarray], halves: Mapping[str, np.ndarray],
                     activations: np.ndarray | None, policy: Policy = FP32) -> str:
    """Where one backend's outputs on a batch of cases differ, past its precision's rounding (`policy`: the
    backend's, so an fp16 program's batch-dependent accumulation order is rounding too), from its outputs on the
    same cases run as two batches, in words; "" when they agree. Rounding is relative to what the layers saw
    (`activations`, per case, else the outputs): another batch size may take another kernel, whose sums round
    otherwise."""
    for name, a in whole.items():
        a, b = np.asarray(a, np.float64), np.asarray(halves[name], np.float64)
        seen = (np.where(np.isfinite(a), np.abs(a), 0.0).reshape(len(a), -1).max(axis=1, initial=0.0)
                if activations is None else np.asarray(activations, np.float64).reshape(len(a)))
        scale = np.maximum(1.0, seen).reshape((-1,) + (1,) * (a.ndim - 1))
        with np.errstate(invalid="ignore"):
            apart = (np.abs(a - b) > policy.atol * scale + policy.rtol * np.abs(a)) | (np.isnan(a) != np.isnan(b))
        if apart.any():
            diff = np.where(np.isnan(a) | np.isnan(b), np.inf, np.abs(a - b))
            worst = np.unravel_index(int(np.argmax(np.where(apart, diff, -1))), a.shape)
            return (f"the outputs of the cases depend on the other cases in their batch: the same {len(a):,} cases "
                    f"run as two batches differ in {int(apart.sum()):,} of {a.size:,} values of output {name!r} "
                    f"(case {worst[0]}: {a[worst]:.6g} then {b[worst]:.6g}); the model mixes its first dimension "
                    "(a softmax, mean or norm over dim 0, batch statistics such as F.batch_norm(training=True), or "
                    "a layout whose first dimension is not the batch), so an app predicting one case gets other "
                    "outputs; no backend was judged against it")
    return ""


class Streamed:
    """One backend loaded once and run chunk by chunk; its `Results` carry no outputs.

    The reference (`reference=True`) runs its first chunk twice, and then as two batches: outputs that change
    between two runs on the same inputs, or with the cases run beside them, make every comparison meaningless
    (every backend runs a chunk as one batch, so they would agree with each other), so it then stops as
    NONDETERMINISTIC, with where."""

    def __init__(self, backend: Backend, spec: ModelSpec, manifest: Manifest, folder: Path, say: Progress, n: int,
                 reference: bool = False):
        self.backend, self.spec, self.repeat = backend, spec, reference
        option = str(getattr(backend, backend.option)) if backend.option else ""
        export = {"export": {f"{a.format}@{a.precision}": a.sha256 for a in manifest.artifacts}}
        self.base = dict(model=spec.name, weights_sha256=manifest.weights_sha256, backend=backend.label,
                         precision=backend.precision, option=option, inputs=Inputs(None, n, "0" * 64),
                         provenance=provenance(export))
        self.status, self.reason, self.seconds = "ran", backend.refuses(spec) or backend.unavailable_reason() or "", 0.0
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
                if not differ and len(chunk) > 1 and not self.spec.stateful:
                    differ = batch_dependence(outputs, self._halves(chunk), self.activations,
                                              policy_for(self.backend.precision))
            except Exception as err:
                self.status, self.reason = "failed", f"{type(err).__name__}: {err} (running the reference again)"
                return None
            if differ:
                self.status, self.reason = NONDETERMINISTIC, differ
                return None
        return outputs

    def _halves(self, chunk: Cases) -> dict[str, np.ndarray]:
        """The chunk's outputs with its cases run as two batches."""
        half = len(chunk) // 2
        parts = [self.backend.run(chunk.take(index)) for index in (slice(None, half), slice(half, None))]
        return {t.name: np.concatenate([np.asarray(p[t.name], np.float32) for p in parts]) for t in self.spec.outputs}

    def again(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Its outputs on some cases again (for the precision classes); None once it failed or did not run."""
        if self.status != "ran":
            return None
        try:
            out = self.backend.run(feeds)
        except Exception:
            return None
        return {t.name: np.asarray(out[t.name], dtype=np.float32) for t in self.spec.outputs}

    def _outputs(self, chunk: Cases) -> dict[str, np.ndarray]:
        out, self.activations = self.backend.run_measured(chunk.feeds)
        return {t.name: np.asarray(out[t.name], dtype=np.float32) for t in self.spec.outputs}

    def results(self) -> Results:
        return Results(**self.base, status=self.status, reason=self.reason, seconds=self.seconds)
