"""The steps end to end on real exports: run -> compare (-> report), and parity composing them."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from torch import nn

from harness.backends import default_backends, parse_backends
from harness.backends.coreml import CoreMLBackend
from harness.parity import localize, steps
from harness.parity.tolerances import Policy
from harness.parity.verdict import ParityReport
from harness.report.text import format_report
from harness.results import Results, ResultsError
from tests.user_model import series


def test_default_parity_passes_and_reports_everything(series_model, series_export, tmp_path):
    _, folder = series_export
    report = steps.parity(series_model, default_backends(), n=300, seed=0, folder=folder)
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
    assert ort.decisions_compared + ort.near_threshold == 300 * series.LENGTH  # every position is a decision

    data = json.loads(report.write(tmp_path / "r.json").read_text())
    assert data["passed"] is True and data["n"] == 300 and data["trained"] is False
    assert "tests/user_model/series.py" in data["weights_source"]
    worst = data["comparisons"][0]["worst_case"]
    assert np.shape(worst["points"]["series"]) == (2, series.LENGTH) and worst["kind"] in data["case_kinds"]
    assert data["case_kinds"] == {"generated": 300}


def test_a_policy_nothing_can_meet_fails_the_report(series_model, series_export):
    _, folder = series_export
    exact = Policy("exact", atol=0.0, rtol=0.0, decision_margin=0.0, min_decision_agreement=1.0,
                   reason="bitwise equality", input_scaled=False)
    report = steps.parity(series_model, parse_backends("torch,onnxruntime"), n=200, seed=0, folder=folder,
                             policy=exact)
    assert not report and not report.comparisons[0].numeric_ok
    assert "FAIL numeric" in format_report(report)


def test_a_numeric_failure_says_how_many_values_and_which_cases_went_beyond_the_allowance(series_model,
                                                                                          series_export):
    """`FAIL numeric` beside a max abs below the largest allowance read as a contradiction, with no line saying
    what went beyond: the count of values and of cases, the first cases, and where the largest difference is."""
    _, folder = series_export
    tight = Policy("tight", atol=1e-7, rtol=0.0, decision_margin=0.0, min_decision_agreement=0.0,
                   reason="a test's", input_scaled=True)
    report = steps.parity(series_model, parse_backends("torch,onnxruntime"), n=200, seed=0, folder=folder,
                          policy=tight)
    c = report.comparisons[0]
    assert c.failures == ("numeric",), format_report(report)
    said = [line for line in format_report(report).splitlines() if line.startswith(f"{c.pair}: ")
            and "beyond the allowance" in line]
    assert len(said) == 1, format_report(report)
    assert (f"{c.numeric_violations:,} value" in said[0] and f"in {c.violating_cases:,} case" in said[0]
            and f"case{'s' if c.violating_cases > 1 else ''} {c.violation_cases[0]}" in said[0]), said[0]


def test_parity_is_reproducible_for_a_seed(series_model, series_export):
    _, folder = series_export
    a = steps.parity(series_model, parse_backends("torch,onnxruntime"), n=50, seed=7, folder=folder)
    b = steps.parity(series_model, parse_backends("torch,onnxruntime"), n=50, seed=7, folder=folder)
    assert a.to_dict()["comparisons"] == b.to_dict()["comparisons"]


def test_nothing_to_compare_is_a_failure_not_a_pass(series_model, series_export):
    _, folder = series_export
    if not CoreMLBackend.unavailable_reason():
        pytest.skip("needs a machine without CoreML")
    report = steps.parity(series_model, parse_backends("coreml"), n=10, seed=0, folder=folder)
    assert not report
    assert "no comparison ran" in format_report(report)


def test_a_warm_parity_builds_the_model_once(tmp_path):
    """Once for the staleness check, the torch backend and everything else: the built module is passed on."""
    built = []

    def build():
        built.append(1)
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).eval()

    from harness import api

    spec = api.describe("counted", lambda: api.seeded(build), inputs={"x": (None, 3)}, outputs={"y": (None, 2)},
                        decision="argmax")
    backends = "torch,onnxruntime,coreml-emulated@fp32"
    steps.parity(spec, parse_backends(backends), n=16, seed=0, folder=tmp_path / "e")  # cold: exports
    built.clear()
    report = steps.parity(spec, parse_backends(backends), n=16, seed=0, folder=tmp_path / "e")
    assert report, format_report(report)
    assert len(built) == 1


def test_the_steps_saved_and_read_back_judge_as_in_memory(series_model, series_export, tmp_path):
    _, folder = series_export
    done = steps.run(series_model, parse_backends("torch,onnxruntime,coreml-emulated@fp32"), n=40, seed=3,
                        folder=folder)
    done.write(tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "cases.json", "coreml-emulated_fp32_fp32.json", "onnxruntime_fp32.json", "run.json", "torch_fp32.json"]
    again = steps.read_results([tmp_path / "run"])
    in_memory = steps.compare(done.cases, done.results, artifact_checks=done.artifact_checks)
    from_files = steps.compare(again.cases, again.results, artifact_checks=again.artifact_checks)
    assert from_files.to_dict() == in_memory.to_dict()
    assert [r.backend for r in again.results] == ["torch@fp32", "onnxruntime@fp32", "coreml-emulated@fp32[fp32]"]
    assert np.array_equal(again.cases.cases.feeds["series"], series_model.make_cases(40, 3).feeds["series"])


def test_compare_refuses_results_over_other_inputs(series_model, series_export):
    _, folder = series_export
    a = steps.run(series_model, parse_backends("torch"), n=12, seed=0, folder=folder)
    b = steps.run(series_model, parse_backends("onnxruntime"), n=12, seed=1, folder=folder)
    with pytest.raises(ResultsError, match=r"onnxruntime@fp32 .*ran on other inputs .*seed 1.* --seed 1"):
        steps.compare(a.cases, a.results + b.results)


def test_compare_refuses_another_models_results(series_model, series_export):
    _, folder = series_export
    a = steps.run(series_model, parse_backends("torch,onnxruntime"), n=8, seed=0, folder=folder)
    other = dataclasses.replace(a.results[1], model="another-model", weights_sha256="ab" * 32)
    with pytest.raises(ResultsError, match="is model 'another-model'.*not comparable"):
        steps.compare(a.cases, (a.results[0], other))


def test_each_device_is_matched_to_the_emulation_profile_its_numbers_fall_closest_to(series_model, series_export):
    """A 'device' whose numbers are exactly the fp16 profile's must be found closest to that profile."""
    _, folder = series_export
    done = steps.run(series_model, parse_backends(
        "torch,coreml-emulated@fp16[fp32],coreml-emulated@fp16[fp16-storage],coreml-emulated@fp16[fp16]"),
        n=60, seed=0, folder=folder)
    fp16 = next(r for r in done.results if r.backend == "coreml-emulated@fp16[fp16]")
    phone = dataclasses.replace(fp16, backend="coreml@fp16[CPU_AND_NE]", option="CPU_AND_NE",
                                provenance={"device": "iPhone15,2", "os": "iOS 17.4.0"})
    report = steps.compare(done.cases, (*done.results, phone))
    (match,) = report.devices
    assert match.closest == "coreml-emulated@fp16[fp16]" and match.where == "iPhone15,2, iOS 17.4.0"
    by = {d.backend: d for d in match.distances}
    assert by["coreml-emulated@fp16[fp16]"].mean_abs == 0.0
    assert by["coreml-emulated@fp16[fp16-storage]"].mean_abs > 0.0
    assert set(by) == {"torch@fp32", "coreml-emulated@fp16[fp32]", "coreml-emulated@fp16[fp16-storage]",
                       "coreml-emulated@fp16[fp16]"}
    assert "closest emulation profile coreml-emulated@fp16[fp16]" in format_report(report)


def test_two_phones_with_one_setting_keep_apart(series_model, series_export):
    _, folder = series_export
    done = steps.run(series_model, parse_backends("torch,coreml-emulated@fp16[fp16]"), n=10, seed=0, folder=folder)
    phones = [dataclasses.replace(done.results[1], backend="coreml@fp16[ALL]", option="ALL",
                                  provenance={"device": model}) for model in ("iPhone14,5", "iPhone16,1")]
    report = steps.compare(done.cases, (done.results[0], *phones))
    assert [d.device for d in report.devices] == ["coreml@fp16[ALL] on iPhone14,5", "coreml@fp16[ALL] on iPhone16,1"]


@pytest.mark.parametrize("model", ["series_model", "fp16_overflow_model"])
def test_every_model_passes_fp32_parity_on_onnxruntime_and_the_emulator(request, shared_export, model):
    spec = request.getfixturevalue(model)
    report = steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp32"), n=150, seed=0,
                          folder=shared_export(spec)[1])
    assert report, format_report(report)
    assert len(report.comparisons) == 2


def test_an_fp16_overflow_is_caught_with_the_op_named(fp16_overflow_model, shared_export, tmp_path):
    spec, folder = fp16_overflow_model, shared_export(fp16_overflow_model)[1]
    report = steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp16[fp16-storage]"),
                             n=200, seed=0, folder=folder)
    assert not report
    ort, fp16 = report.comparisons
    assert ort and not fp16 and fp16.non_finite > 0
    diagnosis = report.diagnoses[fp16.pair]
    assert diagnosis["overflow"] and diagnosis["first"]["op"] == "mul"
    assert diagnosis["cases"] and len(diagnosis["cases"]) <= localize.LOCALIZED_CASES
    text = format_report(report)
    assert "values overflow float16" in text and "NaN or infinite" in text
    saved = ParityReport.read(report.write(tmp_path / "c.json"))  # the localisation is its own saved file
    assert (tmp_path / "c.localization.json").is_file()
    assert saved.diagnoses == report.diagnoses and format_report(saved) == text


def test_localized_ops_name_the_torch_module_that_made_them(series_model, series_export):
    """The conv ops of the fp16 program carry the torch Conv1d modules, in the module's own order."""
    _, folder = series_export
    report = steps.parity(series_model, parse_backends("torch,coreml-emulated@fp16[fp16-storage]"), n=8, seed=0,
                             folder=folder, overview=True)
    overview = report.localizations.overview
    convs = [o.module for o in overview.ops if o.op_type == "conv"]
    module = series_model.build()
    expected = [f"{name} (Conv1d)" for name, m in module.named_modules() if isinstance(m, nn.Conv1d)]
    assert convs == expected
    assert all(o.title.startswith(f"{o.name} ({o.op_type})") for o in overview.ops)


def test_the_emulator_reproduces_decision_flips_a_plain_fp32_run_misses(fp16_overflow_model, shared_export):
    spec, folder = fp16_overflow_model, shared_export(fp16_overflow_model)[1]
    report = steps.parity(spec, parse_backends(
        "torch,onnxruntime,coreml-emulated@fp32[fp32],coreml-emulated@fp16[fp16-storage]"),
        n=200, seed=0, folder=folder)
    ort, fp32, fp16 = report.comparisons
    assert ort.flips == () and fp32.flips == ()
    assert len(fp16.flips) > 0
    flip = fp16.flips[0]
    assert abs(flip.reference - 0.5) > fp16.policy.decision_margin  # a confident decision, reversed


def test_unavailable_backends_are_saved_with_their_reason(series_model, series_export, tmp_path):
    _, folder = series_export
    if not CoreMLBackend.unavailable_reason():
        pytest.skip("needs a machine without CoreML")
    done = steps.run(series_model, parse_backends("torch,coreml@fp16"), n=4, seed=0, folder=folder)
    path = done.results[1].write(tmp_path / "coreml.json")
    saved = Results.read(path)
    assert saved.status == "unavailable" and "needs macOS" in saved.reason and saved.outputs == {}
