"""What `compare` believes of a results file: nothing it has not checked.

A results file comes from anywhere (a run, a Mac, a phone, a hand edit) and says what it is: a
backend label `name@precision[option]`, the precision that picks the policy judging it, the
model and weights it claims, the CoreML weights it measured loading, the inputs it ran on and
its outputs' shapes. `check` holds every claim against the others and against the cases, and
refuses a file whose claims disagree with a `ResultsError` (exit 2) naming the field: a
comparison of it would mean nothing, or lie (a file labelled fp32 whose precision said fp16 was
judged by the lenient fp16 policy; a phone that ran other weights under the model's name passed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness import backend_names
from harness.backend_names import BACKENDS, DEVICE_BACKEND, EMULATED_BACKEND, MEASURING_BACKEND
from harness.errors import UsageError
from harness.results import CaseFile, Reading, Results, ResultsError

if TYPE_CHECKING:
    from harness.spec import ModelSpec

#: Backends that load a CoreML model, and must say (measured) which weights they loaded.
COREML_BACKENDS = (DEVICE_BACKEND, EMULATED_BACKEND)
#: The backends that load an ExecuTorch program, and must say (measured) which `.pte` file they loaded.
EXECUTORCH_BACKENDS = ("executorch", "executorch-coreml-emulated")


def check(case_file: CaseFile, results: Sequence[Results], spec: ModelSpec | None = None) -> None:
    """Refuse results whose claims disagree with each other or with the cases (`ResultsError`
    naming the field): a label whose precision is not the file's (the precision picks the policy),
    another model, other weights, other inputs. Their comparison would mean nothing, or lie.
    With the model's `spec`, the cases' reading (policy, decision rule, threshold, outputs) must be its."""
    if spec is not None:
        _check_reading(case_file, spec)
    for r in results:
        r.check_label()
        _check_backend(r)
        _check_model(case_file, r)
        _check_inputs(case_file, r)
        _check_outputs(case_file, r)
        _check_activations(r)
    _check_distinct(results)


def _check_reading(case_file: CaseFile, spec: ModelSpec) -> None:
    """How the outputs are judged is the model's, not the cases file's to say: a `reading.policy` of fp16
    judged every pair by decisions alone, and an output left out of `reading.outputs` was not compared."""
    if case_file.model != spec.name:
        raise ResultsError(f"the cases are for model {case_file.model!r}, not {spec.name!r}")
    said, own = case_file.reading, Reading.of(spec)
    for key in ("outputs", "decided_output", "decision", "threshold", "policy", "steps"):
        if getattr(said, key) != getattr(own, key):
            raise ResultsError(f"the cases say reading.{key} {getattr(said, key)!r}, model {spec.name!r} says "
                               f"{getattr(own, key)!r}: they judge the outputs, and must be the model's")
    if said.shapes and said.shapes != own.shapes:
        raise ResultsError(f"the cases say reading.output_shapes {said.shapes}, model {spec.name!r} says {own.shapes}")


def _check_activations(r: Results) -> None:
    """Only torch measures what the layers saw; from any other file the scale of every allowance would
    be whatever it says (a device's file as the reference, claiming 1e6, passed anything)."""
    if r.activations is not None and r.name != MEASURING_BACKEND:
        raise ResultsError(f"{r.describe()} claims activations, but only {MEASURING_BACKEND} measures what the "
                           "model's layers saw: remove the field or record it with `python -m harness run`")


def _check_distinct(results: Sequence[Results]) -> None:
    """No run is named twice: a run compared with itself agrees with itself, and tests nothing."""
    for i, r in enumerate(results):
        for earlier in results[:i]:
            if earlier is r or (earlier.backend == r.backend and earlier.provenance == r.provenance
                                and earlier.outputs.keys() == r.outputs.keys()
                                and all(np.array_equal(earlier.outputs[k], r.outputs[k], equal_nan=True)
                                        for k in r.outputs)):
                raise ResultsError(f"{r.describe()} is named twice (the same backend, provenance and outputs): "
                                   "a run compared with itself tests nothing")


def _check_backend(r: Results) -> None:
    """The label names a registered backend, at one of its precisions, with an option it takes."""
    if r.name not in BACKENDS:
        raise ResultsError(f"{r.describe()}: backend.label names backend {r.name!r}, which this harness does not "
                           f"know ({', '.join(BACKENDS)}): its precision and weights cannot be checked")
    try:
        label = backend_names.label(r.backend)
    except UsageError as err:
        raise ResultsError(f"{r.describe()}: backend.label: {err}") from None
    if label != r.backend:
        raise ResultsError(f"{r.describe()}: backend.label must name the backend as the harness does, "
                           f"{label!r}")


def _check_model(case_file: CaseFile, r: Results) -> None:
    if r.model != case_file.model:
        raise ResultsError(f"{r.describe()} is model {r.model!r} (model.name), the cases are for "
                           f"{case_file.model!r}: not comparable")
    if r.weights_sha256 != case_file.weights_sha256:
        raise ResultsError(f"{r.describe()} claims weights {r.weights_sha256[:12]} (model.weights_sha256), the cases "
                           f"are for weights {case_file.weights_sha256[:12]}: not comparable")
    if r.name in EXECUTORCH_BACKENDS:
        _check_program(case_file, r)
        return
    if r.name not in COREML_BACKENDS:
        if r.loaded_weights_sha256:
            raise ResultsError(f"{r.describe()} claims model.loaded_weights_sha256, but {r.name} loads no "
                               "CoreML model or ExecuTorch program")
        return
    if r.status != "ran":
        return
    expected = case_file.coreml_weights.get(r.precision)
    if not r.loaded_weights_sha256:
        raise ResultsError(f"{r.describe()} does not say which weights it loaded (model.loaded_weights_sha256): "
                           "record it again with this harness or TrendSplitRecorder")
    if expected is None:
        raise ResultsError(f"the cases record no weights of the coreml@{r.precision} export to check "
                           f"{r.describe()}'s model.loaded_weights_sha256 against: write them again with "
                           "`python -m harness run`")
    if r.loaded_weights_sha256 != expected:
        raise ResultsError(f"{r.describe()} loaded CoreML weights {r.loaded_weights_sha256[:12]} "
                           f"(model.loaded_weights_sha256), the coreml@{r.precision} export's are {expected[:12]}: "
                           "it ran another model under this name")


def _check_program(case_file: CaseFile, r: Results) -> None:
    """An ExecuTorch run says (measured) the sha256 of the `.pte` file it loaded, and it must be the export's
    program of that delegate and precision: an app that shipped another program under the model's name is
    refused, not compared."""
    if r.status != "ran":
        return
    label = backend_names.REFERENCE.match(r.backend)  # checked already: name@precision[option]
    delegate = "coreml" if r.name == "executorch-coreml-emulated" else label["option"]
    key = f"{delegate}@{label['precision']}"
    expected = case_file.executorch_programs.get(key)
    if not r.loaded_weights_sha256:
        raise ResultsError(f"{r.describe()} does not say which program it loaded (model.loaded_weights_sha256: "
                           "the sha256 of the .pte file)")
    if expected is None:
        raise ResultsError(f"the cases record no executorch {key} program to check {r.describe()}'s "
                           "model.loaded_weights_sha256 against: write them again with `python -m harness run "
                           "--backends torch,executorch`")
    if r.loaded_weights_sha256 != expected:
        raise ResultsError(f"{r.describe()} loaded ExecuTorch program {r.loaded_weights_sha256[:12]} "
                           f"(model.loaded_weights_sha256), the export's {key} program is {expected[:12]}: "
                           "it ran another program under this name")


def _check_inputs(case_file: CaseFile, r: Results) -> None:
    inputs = case_file.inputs
    for key, claimed, actual in (("sha256", r.inputs.sha256, inputs.sha256), ("count", r.inputs.count, inputs.count),
                                 ("seed", r.inputs.seed, inputs.seed)):
        if claimed != actual and not (key == "seed" and claimed is None):
            raise ResultsError(f"{r.describe()} ran on other inputs (inputs.{key}: {r.inputs.count} cases, seed "
                               f"{r.inputs.seed}, sha256 {r.inputs.sha256[:12]}) than the cases ({inputs.count} "
                               f"cases, seed {inputs.seed}, sha256 {inputs.sha256[:12]}): run again with --n "
                               f"{r.inputs.count} --seed {r.inputs.seed}")


def _check_outputs(case_file: CaseFile, r: Results) -> None:
    """Each output the cases declare has their shape (when they record shapes)."""
    reading = case_file.reading
    for name, shape in zip(reading.outputs, reading.shapes, strict=False):
        if name in r.outputs and r.outputs[name].shape != (len(case_file.cases), *shape):
            raise ResultsError(f"{r.describe()}: outputs.{name} has shape {list(r.outputs[name].shape)}, the cases "
                               f"declare {[len(case_file.cases), *shape]}")
