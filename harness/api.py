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

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from harness import atomic, files, options
from harness.errors import UsageError
from harness.exact_random import ExactGenerator
from harness.fixtures import GUARANTEES as FIXTURE_GUARANTEES
from harness.fixtures import MAX_FIXTURE_BYTES
from harness.fixtures import beyond_fp32 as fixture_beyond_fp32
from harness.fixtures import bits as fixture_bits
from harness.fixtures import document as fixture_document
from harness.fixtures import provenance as fixture_provenance
from harness.report.text import format_report
from harness.spec import Cases, ModelSpec, TensorSpec, weights_sha256
from harness.user_model import describe, load, seeded

__all__ = ["describe", "export", "run", "compare", "parity", "compress", "fixtures", "report", "load", "seeded",
           "format_report", "recalibrate_batchnorm", "advise", "apply_advice",
           # for projects that build their own commands and files on the harness (the trendsplit kit):
           # a model's parts, models by name, loaded backends, one output judged, fixture documents
           "ModelSpec", "TensorSpec", "Cases", "weights_sha256", "model", "reference", "backends",
           "backend_label", "judge_output", "fixture_document", "fixture_provenance", "fixture_bits",
           "fixture_beyond_fp32", "FIXTURE_GUARANTEES", "MAX_FIXTURE_BYTES", "ExactGenerator", "tool_versions"]

#: A tolerance override: policy name -> value, or the command line's "fp32=1e-4,fp16=2e-2".
Tolerance = Mapping[str, float] | str | None


def export(model: ModelSpec, folder: str | Path | None = None, *, target: str | None = None, batch=None):
    """Export to ONNX and CoreML (fp32, fp16) with a manifest; returns the manifest.
    `target`: the CoreML deployment target (`iOS15` .. `iOS18`; default: the model's, iOS15 unless described
    with another). `batch`: the batch the CoreML export accepts (a size, sizes, a range or "flexible"; default:
    the model's, flexible 1..1024 unless described with another)."""
    from harness.export import export_model
    from harness.parity.steps import export_folder

    model = model.deployed(options.target(target), options.batch(batch))
    return export_model(model, Path(folder or export_folder(model)))


def run(model: ModelSpec, backends: str | None = None, *, n: int = options.CASES, seed: int = options.SEED,
        folder: str | Path | None = None, out: str | Path | None = None, progress=None, target: str | None = None,
        batch=None):
    """Export (or reuse) and run every backend on `n` seeded cases; returns a `steps.Run`
    (and writes its files to `out`: cases.json, one results file per backend, run.json).
    `target`, `batch`: as `export`."""
    from harness.parity import steps

    n, seed = options.cases(n, saved=True), options.seed(seed)
    model = model.deployed(options.target(target), options.batch(batch))
    done = steps.run(model, options.backends(backends), n=n, seed=seed, folder=folder, progress=progress)
    if out is not None:
        done.write(out)
    return done


def compare(results, *, cases: str | Path | None = None, policy: str | None = None, model: ModelSpec | None = None,
            artifacts: str | Path | None = None, overview: bool = False, progress=None,
            atol: Tolerance = None, rtol: Tolerance = None, explain: bool = False):
    """Judge results against the first; returns a ParityReport.

    `results`: a `steps.Run` (from `run`), or paths of results files and run folders (the
    first result is the reference; a Swift recorder's file among them is judged like any other).
    `artifacts`: the export folder, to localise failing emulated pairs; `model` names their torch modules.
    `atol`/`rtol`: per policy name, e.g. `{"fp32": 1e-4}` (or "fp32=1e-4"), replacing that policy's own.
    `explain`: with `model` and `artifacts`, set every pair against float64 and its precision's spread
    (`report.precision`); failing pairs always are.
    """
    from harness.parity import judge

    overrides, chosen = options.overrides(atol, rtol), options.policy(policy)
    done = results if isinstance(results, judge.Run) else judge.read_results(
        [results] if isinstance(results, str | Path) else list(results), cases)
    folder = artifacts if artifacts is not None else done.folder
    return judge.compare(done.cases, done.results, policy=chosen, artifact_checks=done.artifact_checks,
                         artifacts=folder, spec=model, overview=overview, progress=progress, overrides=overrides,
                         explain=explain)


def parity(model: ModelSpec, backends: str | None = None, *, n: int = options.CASES, seed: int = options.SEED,
           folder: str | Path | None = None, policy: str | None = None, progress=None, overview: bool = False,
           atol: Tolerance = None, rtol: Tolerance = None, explain: bool = False, target: str | None = None,
           batch=None, cluster: str | None = None):
    """Export (or reuse) and compare every backend with the first (run, then compare); returns a ParityReport.
    `explain`: set every pair against float64 and its precision's spread, precision or bug
    (`report.precision`); failing pairs always are.
    `overview`: also profile the fp16 program op by op, for the HTML report's per-op section.
    `atol`/`rtol`: per policy name, e.g. `{"fp32": 1e-4}` (or "fp32=1e-4"), replacing that policy's own;
    the reports name the changed policy `fp32(atol=0.0001)`. `target`, `batch`: as `export` (a change re-exports).
    `cluster`: run the chunks on a Dask cluster, `"local:2"` (worker processes here) or a scheduler's address
    (`"tcp://host:8786"`); default `$HARNESS_CLUSTER`, else this process. The report is the same."""
    from harness.parity import steps

    # all checked before the backends are made or anything exported
    n, seed, chosen = options.cases(n), options.seed(seed), options.policy(policy)
    model = model.deployed(options.target(target), options.batch(batch))
    overrides, cluster = options.overrides(atol, rtol), options.cluster(cluster)
    if cluster is not None:
        from harness.cluster.parity import parity as on_cluster

        return on_cluster(model, options.backends(backends), n=n, seed=seed, cluster=cluster, folder=folder,
                          policy=chosen, overview=overview, progress=progress, overrides=overrides, explain=explain)
    return steps.parity(model, options.backends(backends), n=n, seed=seed, folder=folder, policy=chosen,
                        overview=overview, progress=progress, overrides=overrides, explain=explain)


def advise(model: ModelSpec, *, profile: str = "fp16", n: int = 256, seed: int = options.SEED,
           folder: str | Path | None = None, progress=None):
    """The fewest ops to keep in float32 so that `model`'s fp16 program decides as float64 does where
    float64's margin exceeds float32's noise, found greedily from the localisation and verified by
    converting and running each candidate (`harness.parity.advise`). Returns an `Advice`: `render()`,
    `code()` (what to pass to `ct.convert`), and `apply_advice(advice, model)` to export with it."""
    from harness.parity.advise import advise as search
    from harness.parity.steps import export_folder

    n, seed = options.cases(n, saved=True), options.seed(seed)
    return search(model, Path(folder or export_folder(model)), profile=profile, n=n, seed=seed, progress=progress)


def apply_advice(advice, model: ModelSpec) -> ModelSpec:
    """`model` exported with the advice's ops kept in float32 (its fp16 export; the fingerprint changes with them)."""
    import dataclasses

    return dataclasses.replace(model, fp32_ops=frozenset(advice.fp32_ops))


def compress(model: ModelSpec, folder: str | Path | None = None, *, n: int = options.CASES,
             seed: int = options.SEED, policy: str | None = None, target: str | None = None, batch=None,
             figure: str | Path | None = None, progress=None):
    """The compression trade-off (`harness.compression`): the CoreML program compressed every way a team ships
    it, written to `folder` (default artifacts/<name>-compressed) with compression.json, each variant's size on
    disk and parity against torch on the interpreter; returns a `CompressionReport` (`.text()`, `.table()`,
    `.smallest`). `figure`: also write the size-against-decisions PNG there. `policy`: judges every variant
    (default fp16: decisions first)."""
    from harness.compression import compress as measure

    n, seed, chosen = options.cases(n, saved=True), options.seed(seed), options.policy(policy)
    model = model.deployed(options.target(target), options.batch(batch))
    figure = atomic.check_file(figure) if figure is not None else None
    done = measure(model, Path(folder or Path("artifacts") / f"{model.name}-compressed"), n=n, seed=seed,
                   policy=chosen, progress=progress)
    if figure is not None:
        atomic.write_bytes(figure, done.figure())
    return done


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
    from harness.fixtures import model_fixture

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


# For projects that build on the harness (the trendsplit kit): what `python -m harness` itself uses,
# behind names that stay put while the harness's modules move. `harness.toolkit` holds the torch-free rest.

def model(name: str) -> ModelSpec:
    """A model by name: an installed provider's, the zoo's, or `path/to/file.py:name`."""
    from harness.models import get_model

    return get_model(name)


def reference(model: ModelSpec):
    """The eager torch model as parity's reference runs it (`.run(feeds)`, `.predict(x)`, `.module`), no export."""
    from harness.backends.pytorch import TorchBackend

    return TorchBackend.of(model)


def backends(model: ModelSpec, names, folder: str | Path, *, progress=None, skip_unavailable: bool = False) -> list:
    """Export `model` in `folder` (or reuse it) and load each named backend (`torch`, `onnxruntime`,
    `coreml-emulated@fp16[fp16-storage]`, ...) in order; one that cannot run here raises
    `BackendUnavailable`, or is left out with `skip_unavailable` (said through `progress`)."""
    from harness.backends import load_backends

    return load_backends(model, list(names), Path(folder), progress=progress, skip_unavailable=skip_unavailable)


def backend_label(name: str) -> str:
    """The label a loaded backend carries for a name as written (`coreml-emulated@fp16` -> its full label)."""
    from harness.backends import create

    return create(name).label


def judge_output(model: ModelSpec, reference: np.ndarray, candidate: np.ndarray, *, policy: str = "fp32",
                 output: str | None = None, inputs=None):
    """One output of a pair judged as parity judges it (the model's decision rule and threshold on the
    decided output, numbers alone on the others) under a named policy; returns a `Comparison` (truthy when held)."""
    from harness.parity.judge import as_read
    from harness.results import Reading

    reading = Reading.of(model)
    return as_read(reading, reference, candidate, policy=options.policy(policy), inputs=inputs,
                   output=output or reading.decided_output)


def tool_versions() -> dict:
    """The versions of the tools an export or a fixture depends on (torch, coremltools, onnx, ...)."""
    from harness.export.manifest import tool_versions as versions

    return versions()

