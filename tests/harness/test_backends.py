"""Backends: the registry, references, and each backend on the real exports."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import torch

from harness.backends import BACKENDS, create, default_backends, parse_backends
from harness.backends.coreml import CoreMLBackend
from harness.errors import HarnessError, UsageError
from harness.parity.compare import compare
from harness.parity.tolerances import FP16, FP32
from tests.user_model import series


def test_registry_has_the_six_backends_and_runs_the_coreml_path_by_default():
    assert list(BACKENDS) == ["torch", "onnxruntime", "coreml", "coreml-emulated", "executorch",
                             "executorch-coreml-emulated"]
    assert {b.name for b in default_backends()} == {"torch", "onnxruntime", "coreml", "coreml-emulated"}


def test_parse_expands_bare_names_to_their_variants():
    labels = [b.label for b in parse_backends("torch, onnxruntime,coreml,coreml-emulated")]
    assert labels == ["torch@fp32", "onnxruntime@fp32", "coreml@fp32[ALL]", "coreml@fp16[ALL]",
                      "coreml-emulated@fp32[fp32]", "coreml-emulated@fp16[fp16-storage]",
                      "coreml-emulated@fp16[fp16]"]
    assert [b.label for b in default_backends()] == labels


def test_labels_read_back_as_references():
    for backend in default_backends() + parse_backends("executorch,executorch-coreml-emulated"):
        assert create(backend.label).label == backend.label


def test_compute_units_option_reaches_coreml_only():
    backends = parse_backends("torch,coreml@fp16", compute_units="cpu_only")
    assert backends[1].label == "coreml@fp16[CPU_ONLY]"


@pytest.mark.parametrize("ref, message", [
    ("tflite", "unknown backend 'tflite'; known backends: torch"),
    ("onnxruntime@fp16", "has no precision 'fp16'"),
    ("", "no backend named"),
    ("torch[x]", "takes no"),
    ("coreml-emulated@fp16[bf16]", "unknown precision profile 'bf16'"),
    ("coreml@fp16 CPU", "cannot read backend reference"),
])
def test_bad_references_are_usage_errors(ref, message):
    with pytest.raises(UsageError, match=message):
        parse_backends(ref)


def test_unknown_compute_units():
    with pytest.raises(UsageError, match="known: CPU_ONLY"):
        create("coreml", compute_units="GPU_ONLY")


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the non-macOS reason")
def test_coreml_is_unavailable_off_macos_with_a_reason():
    assert "needs macOS" in CoreMLBackend.unavailable_reason()


def test_torch_backend_refuses_an_export_of_other_weights(series_model, series_export):
    manifest, folder = series_export
    other = dataclasses.replace(manifest, weights_sha256="0" * 64)
    with pytest.raises(HarnessError, match="weights differ"):
        create("torch").load(series_model, other, folder)


def test_onnxruntime_matches_torch_on_a_users_series(series_model, series_export):
    manifest, folder = series_export
    cases = series_model.make_cases(200, seed=1)
    outputs = {}
    for ref in ("torch", "onnxruntime"):
        backend = create(ref)
        backend.load(series_model, manifest, folder)
        outputs[ref] = backend.predict(cases.inputs)
        assert outputs[ref].shape == (200, series.LENGTH) and outputs[ref].dtype == np.float32
    result = compare(outputs["torch"], outputs["onnxruntime"], policy=FP32, threshold=0.5,
                     decision_mask=cases.decision_mask, inputs=cases.inputs)
    assert result, result.to_dict()
    assert result.max_abs > 0  # two different runtimes; identical outputs would mean one ran twice


@pytest.mark.parametrize(("variable", "threads"), [("1", 1), ("3", 3), ("", 0), ("many", 0)])
def test_onnxruntime_sizes_its_pool_by_omp_num_threads(series_model, series_export, monkeypatch, variable, threads):
    manifest, folder = series_export
    monkeypatch.setenv("OMP_NUM_THREADS", variable)
    backend = create("onnxruntime")
    backend.load(series_model, manifest, folder)
    assert backend.session.get_session_options().intra_op_num_threads == threads  # 0: onnxruntime's choice


@pytest.mark.coreml
@pytest.mark.parametrize("precision, policy", [("fp32", FP32), ("fp16", FP16)])
@pytest.mark.parametrize("units", ["CPU_ONLY", "CPU_AND_GPU", "ALL"])
def test_real_coreml_matches_torch(series_model, series_export, precision, policy, units):
    manifest, folder = series_export
    cases = series_model.make_cases(200, seed=2)
    torch_backend = create("torch")
    torch_backend.load(series_model, manifest, folder)
    coreml = create(f"coreml@{precision}", compute_units=units)
    coreml.load(series_model, manifest, folder)
    result = compare(torch_backend.predict(cases.inputs), coreml.predict(cases.inputs),
                     policy=policy, threshold=0.5, decision_mask=cases.decision_mask,
                     inputs=cases.inputs)
    assert result, result.to_dict()


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the non-macOS behaviour")
def test_load_backends_exports_once_and_names_a_backend_that_cannot_run(series_model, series_export):
    from harness.backends import load_backends
    from harness.errors import BackendUnavailable

    _, folder = series_export
    said = []
    loaded = load_backends(series_model, ["torch", "coreml@fp16", "onnxruntime"], folder, skip_unavailable=True,
                           progress=said.append)
    assert [b.label for b in loaded] == ["torch@fp32", "onnxruntime@fp32"]
    assert said == ["skipped coreml@fp16[ALL]: MLModel.predict needs macOS; this is linux"]
    with pytest.raises(BackendUnavailable, match="coreml@fp16\\[ALL\\]: MLModel.predict needs macOS"):
        load_backends(series_model, ["coreml@fp16"], folder)


class _ParameterOut(torch.nn.Module):
    """Returns a parameter broadcast to the batch (a learned prior, an embedding table row) and a view of its input."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.prior = torch.nn.Parameter(torch.linspace(-1, 1, 4))

    def forward(self, x):
        return self.fc(x), self.prior.expand(x.shape[0], 4), x.reshape(x.shape[0], 2, 2)


def test_the_torch_reference_gives_outputs_that_view_a_parameter_or_an_input_as_arrays_of_their_own():
    """Under inference mode a view of a parameter still requires grad: the reference stopped with torch's
    "Can't call numpy() on Tensor that requires grad", and a view of an input was the caller's own array."""
    from harness import api

    spec = api.describe("parameter-out", lambda: api.seeded(_ParameterOut), inputs={"x": (None, 4)},
                        outputs={"h": (None, 4), "prior": (None, 4), "view": (None, 2, 2)}, decision="none")
    feeds = spec.make_cases(6, 0).feeds
    out = api.reference(spec).run(feeds)
    np.testing.assert_array_equal(out["prior"], np.tile(torch.linspace(-1, 1, 4).numpy(), (6, 1)))
    np.testing.assert_array_equal(out["view"], feeds["x"].reshape(6, 2, 2))
    assert not np.shares_memory(out["view"], feeds["x"])
