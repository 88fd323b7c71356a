"""Stateful models through the harness: declared, exported with Core ML states (iOS18), run as sequences of calls
from the initial state on torch and the interpreter, and judged per call, so a drift names the call where it starts.

The zoo's two stateful models (a running-statistics normaliser and a KV-cache attention decoder) and the
held-out-style user model in tests/user_model/streaming_tracker.py go through the same steps as any model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness import api
from harness.backends.coreml_emulated import EmulatedCoreMLBackend
from harness.backends.pytorch import TorchBackend
from harness.cli import main
from harness.coreml_artifact import check_coreml_artifact
from harness.errors import UsageError
from harness.exact_random import ExactGenerator
from harness.export import export_model
from harness.export.manifest import Manifest
from harness.mil import load_program
from harness.parity.verdict import ParityReport
from harness.spec import model_fingerprint
from harness.zoo import ZOO, KVCacheAttention, RunningStats, spec
from tests.user_model import streaming_tracker

TRACKER = Path(streaming_tracker.__file__)
EMULATED = ("coreml-emulated@fp32[fp32]", "coreml-emulated@fp16[fp16-storage]", "coreml-emulated@fp16[fp16]")
STATEFUL = ["zoo-running-stats", "zoo-kv-cache"]


def by_call(report, candidate: str) -> list:
    return sorted((c for c in report.comparisons if c.candidate == candidate), key=lambda c: c.call)


@pytest.mark.parametrize("name", STATEFUL)
def test_a_stateful_zoo_model_passes_every_call_on_every_emulated_profile(name, harness_export):
    model = spec(ZOO[name])
    folder = harness_export(model)
    report = api.parity(model, "torch,coreml-emulated", n=24, folder=folder)
    assert report.status == "PASSED", api.format_report(report)
    assert report.steps == model.steps > 1
    for label in EMULATED:
        calls = by_call(report, label)
        assert [c.call for c in calls] == list(range(1, model.steps + 1))
        assert all(c.decisions_compared > 0 and c.verdict == "pass" for c in calls), api.format_report(report)
    text = api.format_report(report)
    assert f"each case is a sequence of {model.steps} calls" in text and "max abs by call" in text
    program = load_program(next(folder.glob("*-fp32.mlpackage")))
    assert [n for n, _ in program.states] == list(model.states)
    assert {a.format for a in Manifest.read(folder).artifacts} == {"coreml"}  # ONNX holds no state


@pytest.mark.parametrize("name", STATEFUL)
def test_the_reference_carries_state_across_the_calls_of_a_case(name):
    """Each call's output depends on the calls before it (else the sequence tests nothing), and every case starts
    from the registered initial values (else the second case would depend on the first)."""
    model = spec(ZOO[name])
    feeds = model.make_cases(3, 5).feeds
    torch_model = TorchBackend.of(model)
    out = torch_model.run(feeds)["y"]
    assert out.shape == (3, *model.case_shape(model.outputs[0]))
    assert np.isfinite(out).all() and 0.05 < np.abs(out).max() < 1e4 and np.ptp(out) > 1e-3  # outputs of order 1
    # call k from a fresh state: the sequence rotated so that it comes first
    alone = np.stack([torch_model.run({"x": np.roll(feeds["x"], -k, axis=1)})["y"][:, 0]
                      for k in range(model.steps)], 1)
    np.testing.assert_array_equal(out[:, 0], alone[:, 0])
    assert not np.allclose(out[:, 1:], alone[:, 1:], atol=1e-3)
    np.testing.assert_array_equal(torch_model.run({"x": feeds["x"][::-1].copy()})["y"], out[::-1])
    fresh = dict(model.build().named_buffers())
    for name, buffer in torch_model.module.named_buffers():  # the module is left as built
        assert torch.equal(buffer, fresh[name]), name


def test_an_interpreter_that_does_not_carry_state_fails_from_the_second_call(monkeypatch, harness_export):
    model = spec(ZOO["zoo-kv-cache"])
    folder = harness_export(model)
    monkeypatch.setattr(EmulatedCoreMLBackend, "_call",  # a fresh state for every call: nothing carried
                        lambda self, _state, feeds: self._run(feeds, self._fresh_state()))
    report = api.parity(model, "torch,coreml-emulated@fp32", n=24, folder=folder)
    calls = by_call(report, "coreml-emulated@fp32[fp32]")
    assert calls[0].verdict == "pass" and all(c.verdict == "fail" for c in calls[1:]), api.format_report(report)
    assert report.first_failing_calls == {"coreml-emulated@fp32[fp32] vs torch@fp32": 2}
    assert "first fails at call 2 of 8" in report.headline


class Forgetful(KVCacheAttention):
    """The KV cache as a faulty conversion would run it: each call's cache holds the new token alone."""

    def forward(self, x):
        self.k_cache[:, :, :] = torch.cat([torch.zeros_like(self.k_cache[:, 1:]), self.k(x)], dim=1)
        self.v_cache[:, :, :] = torch.cat([torch.zeros_like(self.v_cache[:, 1:]), self.v(x)], dim=1)
        self.filled[:, :] = torch.cat([torch.zeros_like(self.filled[:, 1:]), torch.ones(1, 1)], dim=1)
        mask = (self.filled[:, None, :] - 1) * 1e4
        h = torch.nn.functional.scaled_dot_product_attention(self.q(x), self.k_cache, self.v_cache, attn_mask=mask)
        return self.head(h[:, 0])


def test_a_converted_program_whose_state_update_differs_fails_where_the_sequence_parts(tmp_path):
    """The programs exported from a module whose cache update drops the past (same weights), under the model's own
    fingerprint: the harness reuses them as the model's, and judges them call by call."""
    model = spec(ZOO["zoo-kv-cache"])
    faulty = Forgetful()
    faulty.load_state_dict(model.build().state_dict())
    folder = tmp_path / "export"
    export_model(model, folder, module=faulty.eval(), fingerprint=model_fingerprint(model, model.build()))
    report = api.parity(model, "torch,coreml-emulated", n=24, folder=folder)
    assert report.status == "FAILED"
    assert set(report.first_failing_calls.values()) == {2}, api.format_report(report)
    for label in EMULATED:
        assert by_call(report, label)[0].verdict == "pass"
    assert Manifest.read(folder).model_fingerprint == model_fingerprint(model, model.build())  # reused, not re-exported


def test_the_user_model_file_passes_through_the_cli(capsys, harness_export):
    model = streaming_tracker.describe_model()
    code = main(["parity", "--model", f"{TRACKER}:describe_model", "--backends", "torch,coreml-emulated", "--n", "20",
                 "--artifacts", str(harness_export(model)), "-q"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.rstrip().splitlines()[-1].startswith("PASSED: 15 of 15 pairs judged")


def test_a_float16_state_that_outgrows_its_precision_fails_through_the_cli_at_the_call_where_it_does(
        capsys, harness_export):
    """Core ML holds states in float16: a position counter started at 2046 sticks at 2048 on the third call."""
    model = streaming_tracker.describe_long_running()
    code = main(["parity", "--model", f"{TRACKER}:describe_long_running", "--backends", "torch,coreml-emulated@fp32",
                 "--n", "60", "--artifacts", str(harness_export(model)), "-q"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "coreml-emulated@fp32[fp32] vs torch@fp32 first fails at call 3 of 5" in out.splitlines()[-1]


def test_naming_onnxruntime_for_a_stateful_model_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(["parity", "--model", f"{TRACKER}:describe_model", "--backends", "torch,onnxruntime",
                 "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "onnxruntime@fp32 cannot run model 'streaming-tracker'" in err
    assert "an ONNX graph holds none" in err and not (tmp_path / "a").exists()  # refused before any export


def test_naming_executorch_for_a_stateful_model_is_refused_in_one_line():
    with pytest.raises(UsageError, match=r"^executorch@fp32\[xnnpack\] cannot run model 'streaming-tracker'.*not on "
                                         r"ExecuTorch\)$"):
        api.parity(streaming_tracker.describe_model(), "torch,executorch@fp32[xnnpack]", n=2)


def test_a_target_before_ios18_is_one_line_and_exit_2(capsys):
    assert main(["export", "--model", f"{TRACKER}:describe_model", "--target", "iOS17"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "keeps state (summary, position): Core ML holds state from iOS18, and the target is iOS17" in err
    with pytest.raises(UsageError, match="declare target='iOS18'"):
        _describe(states=("summary", "position"), target="iOS16")


def _describe(**given):
    return api.describe("tracker", lambda: api.seeded(streaming_tracker.StreamingTracker),
                        inputs={"reading": (None, 4)}, outputs={"logits": (None, 3)}, **given)


def test_a_state_that_is_not_a_buffer_is_named_with_the_buffers_there_are():
    with pytest.raises(UsageError, match=r"state 'hidden' is not a registered buffer of the module \(its buffers: "
                                         r"summary, position\)"):
        _describe(states=("summary", "hidden"))


def test_a_buffer_updated_but_not_declared_is_named():
    with pytest.raises(UsageError, match=r"updates buffer\(s\) position in forward without declaring them as state.*"
                                         r"declare states=\('summary', 'position'\)"):
        _describe(states=("summary",))
    with pytest.raises(UsageError, match=r"updates buffer\(s\) square in forward"):  # described stateless:
        api.describe("stats", lambda: api.seeded(RunningStats), inputs={"x": (None, 6)},  # torch's reference would
                     outputs={"y": (None, 3)})  # drift from call to call, and the export bake the buffers in


@pytest.mark.parametrize(("given", "said"), [
    ({"states": ("summary", "position"), "batch": "1..8"}, "its batch must be fixed, not a ranged batch"),
    ({"states": ("summary", "position"), "steps": 0}, "steps (calls per case) must be a whole number from 1"),
    ({"states": ("summary", "position"), "frontend": "export"}, "use frontend='trace'"),
])
def test_a_stateful_description_that_cannot_hold_is_one_line(given, said):
    with pytest.raises(UsageError) as err:
        _describe(**given)
    assert said in str(err.value) and "\n" not in str(err.value)


def test_a_stateful_model_declares_batch_1_and_ios18_unless_told():
    model = _describe(states=("summary", "position"), make_inputs=streaming_tracker.readings)
    assert (model.target, str(model.batch), model.steps) == ("iOS18", "1", 4)
    cases = model.make_cases(3, 0)
    assert cases.feeds["reading"].shape == (3, 4, 1, 4)  # cases, calls, batch, features
    rows = streaming_tracker.readings(ExactGenerator(0), 12)["reading"]
    np.testing.assert_array_equal(cases.feeds["reading"].reshape(12, 4), rows)  # rows in case, call order


@pytest.mark.parametrize("command", [["localize"], ["advise"], ["compress"]])
def test_steps_that_run_single_calls_refuse_a_stateful_model_in_one_line(command, capsys, tmp_path):
    extra = ["--out", str(tmp_path / "c")] if command == ["compress"] else ["--artifacts", str(tmp_path / "a")]
    assert main([*command, "--model", f"{TRACKER}:describe_model", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{command[0]} runs the program one call at a time, without state" in err
    assert not any(tmp_path.iterdir())  # refused before any export


def test_a_saved_run_of_a_stateful_model_is_judged_call_by_call_from_its_files(capsys, harness_export, tmp_path):
    model = streaming_tracker.describe_model()
    ran = tmp_path / "run"
    assert main(["run", "--model", f"{TRACKER}:describe_model", "--backends", "torch,coreml-emulated@fp32", "--n", "8",
                 "--artifacts", str(harness_export(model)), "--out", str(ran), "-q"]) == 0
    capsys.readouterr()
    assert main(["compare", str(ran), "--json", str(tmp_path / "c.json"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "[call 5]" in out and "each case is a sequence of 5 calls" in out
    assert ParityReport.read(tmp_path / "c.json").steps == 5


def test_a_cases_file_whose_steps_disagree_with_its_output_shapes_is_refused():
    from harness.results import Reading, ResultsError

    doc = Reading.of(streaming_tracker.describe_model()).to_dict()
    assert doc["steps"] == 5 and doc["output_shapes"] == {"logits": [5, 1, 3]}
    with pytest.raises(ResultsError, match="steps must be 0 .* the first dimension of every output shape"):
        Reading.from_dict({**doc, "steps": 4}, "cases.json: reading")


class PositionedCache(torch.nn.Module):
    """A cache written at a position the model keeps in a state (`cache[:, p] = v`, p a tensor): coremltools 9
    converts the model without a word and leaves the cache's write out of the program."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        self.register_buffer("cache", torch.zeros(1, 4, 3))
        self.register_buffer("pos", torch.zeros(1))

    def forward(self, x):
        self.cache[:, torch.remainder(self.pos, 4).long()] = self.lin(x)
        self.pos[:] = self.pos + 1
        return self.cache.sum(1) * 2


def test_a_state_the_converted_program_never_writes_fails_the_artifact_check_by_name(tmp_path):
    model = api.describe("positioned", lambda: api.seeded(PositionedCache), inputs={"x": (None, 3)},
                         outputs={"y": (None, 3)}, states=("cache", "pos"))
    manifest = api.export(model, tmp_path / "export")
    for precision in ("fp32", "fp16"):
        check = check_coreml_artifact(model, manifest.artifact("coreml", precision), tmp_path / "export")
        failed = {f.rule: f.detail for f in check.failures}
        assert set(failed) == {"state_writes"}, check.findings
        assert failed["state_writes"].startswith("state cache is read but never written by the program: the converter "
                                                  "dropped forward's update")


class Shift(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("keys", torch.zeros(1, 4, 3))

    def forward(self, k):
        self.keys[:, :, :] = torch.cat([self.keys[:, 1:], k[:, None]], dim=1)
        return self.keys


class Nested(torch.nn.Module):
    """A cache in a submodule, as attention layers keep theirs: the buffer is `attn.keys`, and Core ML's state
    `attn_keys` (coremltools makes every character of a name outside [a-zA-Z0-9_] an underscore)."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 3)
        self.attn = Shift()

    def forward(self, x):
        keys = self.attn(self.proj(x))
        return (torch.softmax(keys.sum(-1), -1)[..., None] * keys).sum(1) * 4


def test_a_state_held_by_a_submodule_runs_under_its_core_ml_name(tmp_path):
    model = api.describe("nested", lambda: api.seeded(Nested), inputs={"x": (None, 3)}, outputs={"y": (None, 3)},
                         states=("attn.keys",), steps=5)
    folder = tmp_path / "export"
    manifest = api.export(model, folder)
    check = check_coreml_artifact(model, manifest.artifact("coreml", "fp32"), folder)
    assert check, check.failures
    report = api.parity(model, "torch,coreml-emulated@fp32", n=12, folder=folder)
    assert report.status == "PASSED", api.format_report(report)  # it stopped: "no state named 'attn.keys'"


def test_another_batch_asked_of_a_stateful_model_is_checked_before_anything_traces_it(capsys, tmp_path):
    """The tracker's state holds one row: at --batch 2 its forward cannot run. It was an internal error (the
    fingerprint's trace); the model is run at the asked batch first, and what refused it is named in one line."""
    assert main(["parity", "--model", f"{TRACKER}:describe_model", "--batch", "2", "--n", "4",
                 "--artifacts", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "internal error" not in err
    assert "model 'streaming-tracker' fails on zeros of the declared shapes" in err and "at a batch of 2" in err
    assert not (tmp_path / "a").exists()
