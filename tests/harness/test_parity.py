"""run_parity end to end on the real exports."""

from __future__ import annotations

import json

import pytest

from harness.backends import default_backends, parse_backends
from harness.backends.coreml import CoreMLBackend
from harness.parity import run_parity
from harness.report import format_report
from harness.tolerances import Policy


def test_default_parity_passes_and_reports_everything(trendsplit, trendsplit_export, tmp_path):
    _, folder = trendsplit_export
    report = run_parity(trendsplit, default_backends(), n=300, seed=0, folder=folder)
    assert report, format_report(report)
    assert report.reference == "torch@fp32"
    pairs = [c.pair for c in report.comparisons]
    assert "onnxruntime@fp32 vs torch@fp32" in pairs
    assert "coreml-emulated@fp16[fp16] vs torch@fp32" in pairs
    if CoreMLBackend.unavailable_reason():
        assert len(pairs) == 4
        assert {r.status for r in report.runs if r.label.startswith("coreml@")} == {"unavailable"}
    assert len(report.artifact_checks) == 2 and all(report.artifact_checks)
    ort = report.comparisons[0]
    assert ort.decisions_compared + ort.near_threshold == report.cases.decision_mask.sum()

    data = json.loads(report.write_json(tmp_path / "r.json").read_text())
    assert data["passed"] is True and data["n"] == 300 and data["trained"] is True
    assert "trendsplit/weights/trendsplit.pt" in data["weights_source"]
    worst = data["comparisons"][0]["worst_case"]
    assert len(worst["points"]) >= 2 and worst["kind"] in data["case_kinds"]
    assert set(data["case_kinds"]) > {"realistic", "epoch_seconds", "tiny_x_range"}


def test_a_policy_nothing_can_meet_fails_the_report(trendsplit, trendsplit_export):
    _, folder = trendsplit_export
    exact = Policy("exact", atol=0.0, rtol=0.0, decision_margin=0.0, min_decision_agreement=1.0,
                   reason="bitwise equality", input_scaled=False)
    report = run_parity(trendsplit, parse_backends("torch,onnxruntime"), n=200, seed=0,
                        folder=folder, policy=exact)
    assert not report and not report.comparisons[0].numeric_ok
    assert "FAIL numeric" in format_report(report)


def test_parity_is_reproducible_for_a_seed(trendsplit, trendsplit_export):
    _, folder = trendsplit_export
    a = run_parity(trendsplit, parse_backends("torch,onnxruntime"), n=50, seed=7, folder=folder)
    b = run_parity(trendsplit, parse_backends("torch,onnxruntime"), n=50, seed=7, folder=folder)
    assert a.to_dict()["comparisons"] == b.to_dict()["comparisons"]


def test_nothing_to_compare_is_a_failure_not_a_pass(trendsplit, trendsplit_export):
    _, folder = trendsplit_export
    if not CoreMLBackend.unavailable_reason():
        return
    report = run_parity(trendsplit, parse_backends("coreml"), n=10, seed=0, folder=folder)
    assert not report
    assert "no comparison ran" in format_report(report)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each registered model exported once for this module."""
    from harness.export import export_model
    from trendsplit.registry import MODELS

    root = tmp_path_factory.mktemp("models")
    return {name: (spec, root / name, export_model(spec, root / name)) for name, spec in MODELS.items()}


@pytest.mark.parametrize("model", ["trendsplit", "trendsplit-gru", "fp16-stress"])
def test_every_model_passes_fp32_parity_on_onnxruntime_and_the_emulator(exported, model):
    spec, folder, _ = exported[model]
    report = run_parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp32"), n=150, seed=0,
                        folder=folder)
    assert report, format_report(report)
    assert len(report.comparisons) == 2


def test_fp16_stress_is_caught_as_an_overflow_with_the_op_named(exported):
    spec, folder, _ = exported["fp16-stress"]
    report = run_parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp16[fp16-storage]"),
                        n=200, seed=0, folder=folder)
    assert not report
    ort, fp16 = report.comparisons
    assert ort and not fp16 and fp16.non_finite > 0
    diagnosis = report.diagnoses[fp16.pair]
    assert diagnosis["overflow"] and diagnosis["first"]["op"] == "mul"
    text = format_report(report)
    assert "values overflow float16" in text and "NaN or infinite" in text


def test_the_emulator_reproduces_decision_flips_a_plain_fp32_run_misses(exported):
    spec, folder, _ = exported["fp16-stress"]
    report = run_parity(spec, parse_backends(
        "torch,onnxruntime,coreml-emulated@fp32[fp32],coreml-emulated@fp16[fp16-storage]"),
        n=200, seed=0, folder=folder)
    ort, fp32, fp16 = report.comparisons
    assert ort.flips == () and fp32.flips == ()
    assert len(fp16.flips) > 0
    flip = fp16.flips[0]
    assert abs(flip.reference - 0.5) > fp16.policy.decision_margin  # a confident decision, reversed
