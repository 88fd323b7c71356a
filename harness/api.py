"""The public API: describe a model once, then export it, check parity, write fixtures and reports.

    from harness import api
    model = api.describe("my-net", MyNet, inputs={"x": (None, 2, 100)}, outputs={"y": (None, 100)})
    api.export(model, "artifacts/my-net")
    report = api.parity(model, backends="torch,onnxruntime,coreml-emulated")
    assert report, api.format_report(report)

Or in steps, results saved between them (results from a Mac or a phone are compared the same way):

    api.run(model, "torch,coreml-emulated", out="results/my-net")
    report = api.compare(["results/my-net", "devices/my-net/iphone.json"])

The built-in models are `ModelSpec`s too (`models/`), so both go through the same code.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from harness import atomic, files, options
from harness.errors import HarnessError, UsageError
from harness.exact_random import ExactGenerator
from harness.report.text import format_report
from harness.spec import Cases, ModelSpec, TensorSpec, seeded_init


def _tensors(given) -> tuple[TensorSpec, ...]:
    if isinstance(given, Mapping):
        return tuple(TensorSpec(name, tuple(shape)) for name, shape in given.items())
    return tuple(given)


def _gaussian(specs: tuple[TensorSpec, ...]) -> Callable[[np.random.Generator, int], dict[str, np.ndarray]]:
    def make(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        return {t.name: rng.normal(size=(n, *t.shape[1:])).astype(np.float32) for t in specs}

    return make


def describe(name: str, model: torch.nn.Module | Callable[[], torch.nn.Module], *,
             inputs: Mapping[str, Sequence[int | None]] | Sequence[TensorSpec],
             outputs: Mapping[str, Sequence[int | None]] | Sequence[TensorSpec],
             make_inputs: Callable[[np.random.Generator, int], dict[str, np.ndarray]] | None = None,
             decision: str = "none", threshold: float = 0.5, decision_output: str | None = None,
             policy: str | None = None, description: str = "", weights_source: str = "user model",
             trained: bool = True, metadata: Mapping[str, str] | None = None,
             frontend: str = "trace") -> ModelSpec:
    """Describe a model for the harness.

    `model`: a module, or a factory returning one (called for every build). `inputs`/`outputs`:
    name -> shape with `None` for the batch dimension, in the order `forward` takes and returns
    them. `make_inputs(rng, n)`: realistic input batches (default: standard normal).
    `decision`: how the app reads `decision_output` ("threshold", "argmax" or "none").
    `policy`: a named tolerance policy for every pair (default: by precision).
    `metadata`: strings that travel into the exports (e.g. the input encoding version).
    `frontend`: how the model reaches coremltools, "trace" (torch.jit.trace) or "export" (torch.export).
    The model is run once on declared-shape inputs, so a wrong shape fails here, by name.
    """
    ins, outs = _tensors(inputs), _tensors(outputs)
    make = make_inputs or _gaussian(ins)

    def build() -> torch.nn.Module:
        module = model() if not isinstance(model, torch.nn.Module) else model
        return module.eval()

    def make_cases(count: int, seed: int) -> Cases:
        feeds = _checked_inputs(make, ins, count, seed)
        return Cases(feeds=feeds, decision_mask=None, kinds=("generated",) * count, raw=(), seed=seed)

    spec = ModelSpec(name=name, description=description or name, build=build, inputs=ins, outputs=outs,
                     make_cases=make_cases, threshold=threshold, weights_source=weights_source, trained=trained,
                     decision=decision, decision_output=decision_output, policy=policy, metadata=metadata or {},
                     frontend=frontend)
    spec.check_module(build())  # the declared shapes are promises: hold the model to them now
    make_cases(PROBE_CASES, 0)  # and so is make_inputs: named here, not after a minute of exporting
    return spec


#: A model file is Python source: kilobytes. Anything larger is not one.
MAX_MODEL_SOURCE_BYTES = 16 << 20

#: Cases `describe` asks `make_inputs` for, to check what it returns before any work.
PROBE_CASES = 2


def _checked_inputs(make, ins: tuple[TensorSpec, ...], count: int, seed: int) -> dict[str, np.ndarray]:
    """`make(rng, count)` as float32 feeds, or a UsageError naming what it got wrong (in one line)."""
    try:
        feeds = make(ExactGenerator(seed), count)
    except HarnessError:
        raise
    except Exception as err:  # the user's function: say where it broke
        raise UsageError(f"make_inputs(rng, {count}) failed: {type(err).__name__}: {err}") from err
    if not isinstance(feeds, Mapping):
        raise UsageError(f"make_inputs must return a dict of input name -> array, got {type(feeds).__name__}")
    missing = {t.name for t in ins} - set(feeds)
    if missing:
        raise UsageError(f"make_inputs returned no {', '.join(sorted(missing))}")
    out = {}
    for t in ins:
        try:
            value = np.asarray(feeds[t.name], np.float32)
        except (TypeError, ValueError) as err:
            raise UsageError(f"make_inputs gave {t.name} values that are not numbers ({err})") from None
        if value.ndim == 0 or value.shape[1:] != tuple(t.shape[1:]) or len(value) != count:
            raise UsageError(f"make_inputs gave {t.name} shape {value.shape}, expected {(count, *t.shape[1:])}")
        out[t.name] = value
    return out


__all__ = ["describe", "export", "run", "compare", "parity", "fixtures", "report", "load", "seeded",
           "format_report", "recalibrate_batchnorm"]

#: A tolerance override: policy name -> value, or the command line's "fp32=1e-4,fp16=2e-2".
Tolerance = Mapping[str, float] | str | None


def seeded(cls: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """`cls()` with PyTorch's default init drawn exactly from `seed`: the same weights on every machine."""
    return seeded_init(cls, seed)


def load(reference: str) -> ModelSpec:
    """`path/to/file.py:name` -> the ModelSpec `name` is, or that `name()` returns."""
    path, _, attr = reference.rpartition(":")
    if not path.endswith(".py") or not attr:
        raise UsageError(f"a model reference is path/to/file.py:factory, got {reference!r}")
    file = Path(path)
    source = files.read_bytes(file, limit=MAX_MODEL_SOURCE_BYTES)  # a regular file, not a FIFO that never ends
    module_spec = importlib.util.spec_from_file_location(f"harness_user_model_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        exec(compile(source, str(file), "exec"), module.__dict__)  # the bytes read, not the path again
    except HarnessError:
        raise
    except Exception as err:  # the user's file: say where it broke, in one line
        raise UsageError(f"importing {file} failed: {type(err).__name__}: {err}") from err
    found = getattr(module, attr, None)
    if found is None:
        raise UsageError(f"{file} has no {attr!r}")
    try:
        spec = found if isinstance(found, ModelSpec) else found() if callable(found) else found
    except HarnessError:
        raise
    except Exception as err:
        raise UsageError(f"{reference}() failed: {type(err).__name__}: {err}") from err
    if not isinstance(spec, ModelSpec):
        raise UsageError(f"{reference} is {type(spec).__name__}, not a model from harness.describe "
                         "(name a ModelSpec, or a function returning one)")
    return spec


def export(model: ModelSpec, folder: str | Path | None = None):
    """Export to ONNX and CoreML (fp32, fp16) with a manifest; returns the manifest."""
    from harness.export import export_model
    from harness.parity.steps import export_folder

    return export_model(model, Path(folder or export_folder(model)))


def run(model: ModelSpec, backends: str | None = None, *, n: int = options.CASES, seed: int = options.SEED,
        folder: str | Path | None = None, out: str | Path | None = None, progress=None):
    """Export (or reuse) and run every backend on `n` seeded cases; returns a `steps.Run`
    (and writes its files to `out`: cases.json, one results file per backend, run.json)."""
    from harness.parity import steps

    n, seed = options.cases(n, saved=True), options.seed(seed)
    done = steps.run(model, options.backends(backends), n=n, seed=seed, folder=folder, progress=progress)
    if out is not None:
        done.write(out)
    return done


def compare(results, *, cases: str | Path | None = None, policy: str | None = None, model: ModelSpec | None = None,
            artifacts: str | Path | None = None, overview: bool = False, progress=None,
            atol: Tolerance = None, rtol: Tolerance = None):
    """Judge results against the first; returns a ParityReport.

    `results`: a `steps.Run` (from `run`), or paths of results files and run folders (the
    first result is the reference; a Swift recorder's file among them is judged like any other).
    `artifacts`: the export folder, to localise failing emulated pairs; `model` names their torch modules.
    `atol`/`rtol`: per policy name, e.g. `{"fp32": 1e-4}` (or "fp32=1e-4"), replacing that policy's own.
    """
    from harness.parity import judge

    overrides, chosen = options.overrides(atol, rtol), options.policy(policy)
    done = results if isinstance(results, judge.Run) else judge.read_results(
        [results] if isinstance(results, str | Path) else list(results), cases)
    folder = artifacts if artifacts is not None else done.folder
    return judge.compare(done.cases, done.results, policy=chosen, artifact_checks=done.artifact_checks,
                         artifacts=folder, spec=model, overview=overview, progress=progress, overrides=overrides)


def parity(model: ModelSpec, backends: str | None = None, *, n: int = options.CASES, seed: int = options.SEED,
           folder: str | Path | None = None, policy: str | None = None, progress=None, overview: bool = False,
           atol: Tolerance = None, rtol: Tolerance = None):
    """Export (or reuse) and compare every backend with the first (run, then compare); returns a ParityReport.
    `overview`: also profile the fp16 program op by op, for the HTML report's per-op section.
    `atol`/`rtol`: per policy name, e.g. `{"fp32": 1e-4}` (or "fp32=1e-4"), replacing that policy's own;
    the reports name the changed policy `fp32(atol=0.0001)`."""
    from harness.parity import steps

    # all checked before the backends are made or anything exported
    n, seed, chosen = options.cases(n), options.seed(seed), options.policy(policy)
    overrides = options.overrides(atol, rtol)
    return steps.parity(model, options.backends(backends), n=n, seed=seed, folder=folder, policy=chosen,
                        overview=overview, progress=progress, overrides=overrides)


def recalibrate_batchnorm(module: torch.nn.Module, batches) -> torch.nn.Module:
    """Re-estimate every BatchNorm's running statistics on `batches` (see `harness.calibrate`), in eval mode.

    `batches`: a list of batches, each a tensor or array (a one-input model) or a tuple of them (one per
    input, in `forward`'s order). Anything else is named in one line."""
    from harness.calibrate import recalibrate_batchnorm as recalibrate

    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"recalibrate_batchnorm needs a torch module, got {type(module).__name__}")
    if isinstance(batches, torch.Tensor | np.ndarray) or not isinstance(batches, Sequence) or not batches:
        raise UsageError("recalibrate_batchnorm needs a non-empty list of batches (each a tensor, or a tuple of "
                         f"tensors for a model of several inputs), got {type(batches).__name__}")
    checked = [_batch(b, i) for i, b in enumerate(batches)]
    try:
        return recalibrate(module, checked)
    except Exception as err:  # the user's module on the user's batches: one line saying which refused what
        raise UsageError(f"recalibrate_batchnorm: the module refused the batches: {type(err).__name__}: "
                         f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err


def _batch(batch, index: int) -> tuple[torch.Tensor, ...]:
    """One calibration batch as the tuple `module(*batch)` takes."""
    parts = tuple(batch) if isinstance(batch, tuple | list) else (batch,)
    out = []
    for part in parts:
        if isinstance(part, np.ndarray):
            part = torch.from_numpy(np.asarray(part, np.float32))
        if not isinstance(part, torch.Tensor):
            raise UsageError(f"recalibrate_batchnorm: batch {index} holds a {type(part).__name__}, not a tensor "
                             "or array (a batch is a tensor, or a tuple of tensors for several inputs)")
        out.append(part)
    if not out:
        raise UsageError(f"recalibrate_batchnorm: batch {index} is empty")
    return tuple(out)


def fixtures(model: ModelSpec, folder: str | Path) -> Path:
    """Write `model_<name>.json`: seeded inputs with torch's outputs, with provenance (no export). Written
    again, it keeps the stored outputs this machine agrees with under the fp32 policy (`harness.fixtures`)."""
    from harness.fixtures import MAX_FIXTURE_BYTES, model_fixture

    folder = atomic.check_folder(folder)  # a real folder, not a link to one: before the work
    path = folder / f"model_{model.name}.json"
    try:
        previous = files.read_json(path, limit=MAX_FIXTURE_BYTES)
    except UsageError:  # none yet, or not a fixture (or not a regular file): written anew
        previous = None
    return atomic.write_text(path, model_fixture(model, previous=previous))


def report(parity_report, path: str | Path | None = None, model: ModelSpec | None = None,
           folder: str | Path | None = None, *, json: str | Path | None = None) -> Path | str:
    """Write the self-contained HTML report of a ParityReport (or of a saved comparison file) to `path`
    and return it; without `path`, return the text table. Draws only on the report: `model` and
    `folder` are accepted for older callers and not used (localisation happens in `parity`/`compare`)."""
    from harness import report as reports
    from harness.parity.verdict import ParityReport

    del model, folder
    loaded = parity_report if isinstance(parity_report, ParityReport) else ParityReport.read(parity_report)
    text = reports.write(loaded, json=json, html=path)
    return Path(path) if path is not None else text
