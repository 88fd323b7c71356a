"""The Linux-side CoreML check: passes on real exports, names what is wrong otherwise."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from harness.coreml_artifact import check_coreml_artifact
from harness.spec import TensorSpec
from tests.user_model import series


def test_real_exports_pass_every_rule(series_model, series_export):
    manifest, folder = series_export
    for precision in ("fp32", "fp16"):
        check = check_coreml_artifact(series_model, manifest.artifact("coreml", precision), folder)
        assert check, check.failures
        assert {f.rule for f in check.findings} >= {"input_names", "input_shape", "metadata",
                                                    f"computes_in_{precision}"}


def test_fp16_export_computes_only_in_fp16(series_model, series_export):
    manifest, folder = series_export
    check = check_coreml_artifact(series_model, manifest.artifact("coreml", "fp16"), folder)
    assert set(check.compute_dtypes) == {"FLOAT16"}, check.compute_dtypes
    assert check.compute_dtypes["FLOAT16"] >= 10, check.compute_dtypes


def test_an_fp32_program_labelled_fp16_is_caught(series_model, series_export):
    manifest, folder = series_export
    mislabelled = dataclasses.replace(manifest.artifact("coreml", "fp32"), precision="fp16")
    check = check_coreml_artifact(series_model, mislabelled, folder)
    assert not check
    assert {f.rule for f in check.failures} == {"computes_in_fp16", "metadata"}


def test_feature_name_drift_is_caught(series_model, series_export):
    manifest, folder = series_export
    renamed = dataclasses.replace(series_model, inputs=(TensorSpec("_1", (None, 2, series.LENGTH)),),
                                  outputs=(TensorSpec("_27", (None, series.LENGTH)),), decision_output="_27")
    check = check_coreml_artifact(renamed, manifest.artifact("coreml", "fp32"), folder)
    assert {f.rule for f in check.failures} == {"input_names", "output_names"}
    assert "expected ['_1']" in next(f.detail for f in check.failures if f.rule == "input_names")


def _convert_fp16(module, example, tmp_path, compute_precision=None):
    import warnings

    import coremltools as ct

    from harness.export.manifest import Artifact

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlmodel = ct.convert(torch.jit.trace(module, example), inputs=[ct.TensorType(name="x", shape=example.shape)],
                             outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                             compute_precision=compute_precision or ct.precision.FLOAT16,
                             minimum_deployment_target=ct.target.iOS15)
    mlmodel.user_defined_metadata.update({"model": "m", "precision": "fp16"})
    mlmodel.save(str(tmp_path / "m.mlpackage"))
    return Artifact("coreml", "fp16", "m.mlpackage", "")


class _BiLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


def test_an_fp16_program_with_ops_coremltools_keeps_in_fp32_passes(tmp_path):
    from harness import api

    module = api.seeded(_BiLSTM)
    spec = api.describe("m", module, inputs={"x": (None, 5, 4)}, outputs={"y": (None, 5, 16)})
    check = check_coreml_artifact(spec, _convert_fp16(module, torch.zeros(1, 5, 4), tmp_path), tmp_path)
    finding = next(f for f in check.findings if f.rule == "computes_in_fp16")
    assert finding.ok, finding.detail
    assert "lstm (input x takes no fp16" in finding.detail and check.compute_dtypes["FLOAT32"] >= 2


def test_an_fp32_op_coremltools_would_have_cast_fails_the_fp16_rule(tmp_path):
    import coremltools as ct

    from harness import api

    module = api.seeded(lambda: nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Conv1d(4, 2, 3)))
    spec = api.describe("m", module, inputs={"x": (None, 2, 9)}, outputs={"y": (None, 2, 5)})
    keep_relu_fp32 = ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type != "relu")
    check = check_coreml_artifact(spec, _convert_fp16(module, torch.zeros(1, 2, 9), tmp_path, keep_relu_fp32),
                                  tmp_path)
    finding = next(f for f in check.findings if f.rule == "computes_in_fp16")
    assert not finding.ok and "relu (no reason)" in finding.detail


class _SpareInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x, spare):  # an input kept for the app's next version, not read yet
        return self.lin(x)


def test_an_input_the_program_does_not_use_is_kept_by_an_identity_and_passes(tmp_path):
    """coremltools keeps an unused input alive with an fp32 `identity` (added after its fp16 pass); the check took
    the op's input type for a tensor's and stopped with an AttributeError (an internal error in parity)."""
    import warnings

    import coremltools as ct

    from harness import api
    from harness.export.manifest import Artifact

    module = api.seeded(_SpareInput)
    spec = api.describe("m", module, inputs={"x": (None, 4), "spare": (None, 2)}, outputs={"y": (None, 3)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlmodel = ct.convert(torch.jit.trace(module, (torch.zeros(1, 4), torch.zeros(1, 2))),
                             inputs=[ct.TensorType(name="x", shape=(1, 4)), ct.TensorType(name="spare", shape=(1, 2))],
                             outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                             compute_precision=ct.precision.FLOAT16, minimum_deployment_target=ct.target.iOS15)
    mlmodel.user_defined_metadata.update({"model": "m", "precision": "fp16"})
    mlmodel.save(str(tmp_path / "m.mlpackage"))
    check = check_coreml_artifact(spec, Artifact("coreml", "fp16", "m.mlpackage", ""), tmp_path)
    finding = next(f for f in check.findings if f.rule == "computes_in_fp16")
    assert finding.ok, finding.detail
    assert "identity (keeps input spare, which the program does not read)" in finding.detail
