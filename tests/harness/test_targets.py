"""A deployment target per export: chosen on every face, converted for by coremltools, recorded in the manifest,
read back from the program by the artifact check, shown in the report, and run by the interpreter at each target."""

from __future__ import annotations

import json

import numpy as np
import pytest
from torch import nn

from harness import api, targets
from harness.backends import parse_backends
from harness.cli import build_parser, main, model_spec
from harness.coreml_artifact import check_coreml_artifact
from harness.errors import UsageError
from harness.export import export_model
from harness.export.manifest import Manifest
from harness.mil import load_program
from harness.models import get_model
from harness.parity.compare import compare
from harness.parity.tolerances import FP32
from harness.spec import built
from tests.user_model import series, tiny_vision


@pytest.mark.parametrize(("given", "name"), [("iOS17", "iOS17"), ("ios16", "iOS16"), (18, "iOS18"),
                                             (" IOS15", "iOS15")])
def test_a_target_is_read_in_the_ways_people_write_it(given, name):
    assert targets.check(given) == name
    assert targets.of_opset(targets.opset(name)) == name


@pytest.mark.parametrize("given", ["iOS14", "iOS19", "macOS14", "", None, True, 17.0])
def test_an_unknown_target_is_one_line_naming_the_choices(given):
    with pytest.raises(UsageError, match=r"unknown deployment target .*; known: iOS15, iOS16, iOS17, iOS18$"):
        targets.check(given)


def _emulated_against_torch(spec, folder, manifest, n=48):
    """The fp32 program run by the interpreter, judged against torch on `n` seeded cases (fp32 policy)."""
    torch_backend, emulated = parse_backends("torch,coreml-emulated@fp32[fp32]")
    for backend in (torch_backend, emulated):
        backend.load(spec, manifest, folder)
    feeds = spec.make_cases(n, 0).feeds
    reference, candidate = torch_backend.run(feeds), emulated.run(feeds)
    return {t.name: compare(reference[t.name], candidate[t.name], policy=FP32, decision="none")
            for t in spec.outputs}, reference


#: Real conversions at each target, of a user's convolutions (tests/user_model/series.py) and the attention model:
#: by default the series model at iOS17 and the attention model at iOS18 (its program then holds iOS18's
#: scaled_dot_product_attention; iOS15 is every other test's, iOS16 the API test's below), every pair in the slow run.
DEFAULT = {("series", "iOS17"), ("zoo-attention", "iOS18")}
CONVERSIONS = [pytest.param(name, t, marks=() if (name, t) in DEFAULT else pytest.mark.slow)
               for name in ("series", "zoo-attention") for t in targets.TARGETS]


def _model(name):
    return series.describe_model() if name == "series" else get_model(name)


@pytest.mark.parametrize(("name", "target"), CONVERSIONS)
def test_each_target_converts_and_the_interpreter_runs_its_program(name, target, tmp_path):
    spec = built(_model(name).deployed(target))
    folder = tmp_path / name
    manifest = export_model(spec, folder, targets=[("coreml", "fp32")])
    artifact = manifest.artifact("coreml", "fp32")
    assert manifest.target == target == artifact.details["deployment_target"]
    program = load_program(folder / artifact.path)
    assert program.opset == targets.opset(target)  # what coremltools wrote, not what we asked
    check = check_coreml_artifact(spec, artifact, folder)
    assert check and check.target == target
    if name == "zoo-attention":
        assert ("scaled_dot_product_attention" in program.op_types()) == (target == "iOS18")
    judged, reference = _emulated_against_torch(spec, folder, manifest)
    assert all(np.ptp(r) > 0.1 for r in reference.values())  # outputs that vary: a pass that means something
    assert all(judged.values()), {k: (c.max_abs, c.numeric_violations) for k, c in judged.items()}


def test_the_artifact_check_fails_a_program_of_another_target(tmp_path):
    spec = built(series.describe_model().deployed("iOS17"))
    manifest = export_model(spec, tmp_path / "t", targets=[("coreml", "fp32")])
    check = check_coreml_artifact(spec.deployed("iOS18"), manifest.artifact("coreml", "fp32"), tmp_path / "t")
    assert not check and check.target == "iOS17"
    (failure,) = check.failures
    assert failure.rule == "deployment_target" and failure.detail == "program opset CoreML7 (iOS17), exported for iOS18"


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x):
        return self.linear(x).sigmoid()


def test_the_api_exports_for_the_target_asked_reports_it_and_re_exports_when_it_changes(tmp_path):
    model = api.describe("tiny-target", lambda: api.seeded(Tiny), inputs={"x": (None, 6)}, outputs={"y": (None, 3)},
                         decision="threshold", target="iOS16")
    said: list[str] = []
    folder = tmp_path / "export"
    first = api.parity(model, "torch,coreml-emulated@fp32[fp32]", n=64, folder=folder, progress=said.append)
    assert first and first.target == "iOS16" and Manifest.read(folder).target == "iOS16"
    second = api.parity(model, "torch,coreml-emulated@fp32[fp32]", n=64, folder=folder, progress=said.append,
                        target="ios18")
    assert second and second.target == "iOS18" and Manifest.read(folder).target == "iOS18"
    assert [m for m in said if m.startswith("re-exporting")] == [
        f"re-exporting {folder}: the deployment target changed (iOS16 -> iOS18)"]
    text = api.format_report(second)
    assert text.splitlines()[0].endswith("; CoreML target iOS18")
    assert "artifact tiny-target-fp16.mlpackage: PASS (iOS18; " in text
    second.write(tmp_path / "report.json")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["target"] == "iOS18" and {a["target"] for a in saved["artifact_checks"]} == {"iOS18"}
    from harness.parity.verdict import ParityReport

    assert ParityReport.read(tmp_path / "report.json").target == "iOS18"


def test_the_command_line_takes_a_target_for_each_command_and_refuses_an_unknown_one(capsys):
    model = f"{tiny_vision.__file__}:describe_model"
    parser = build_parser()
    for command in ("export", "parity", "run", "report", "localize"):
        args = parser.parse_args([command, "--model", model, "--target", "ios17"])
        assert model_spec(args).target == "iOS17"
    assert model_spec(parser.parse_args(["parity", "--model", model])).target == "iOS15"
    with pytest.raises(SystemExit) as exit_:
        main(["parity", "--model", model, "--target", "iOS14"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m harness parity: error: argument --target: unknown deployment target 'iOS14'; "
        "known: iOS15, iOS16, iOS17, iOS18")
