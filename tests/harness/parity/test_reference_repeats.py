"""A reference that gives other outputs for the same inputs is reported as not deterministic, and nothing is
judged against it (harness/parity/steps.py `_Streamed`, `disagreement`): not a numeric failure of the backends."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness import api
from harness.parity.steps import batch_dependence, disagreement
from harness.parity.tolerances import get_policy


class Dropped(nn.Module):
    """The classic slip: F.dropout's `training` defaults to True, so eval() does not switch it off."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.b(F.dropout(torch.relu(self.a(x)), 0.2))


class Noisy(nn.Module):
    """Another random op in the forward pass."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 3)

    def forward(self, x):
        return self.a(x) + 1e-2 * torch.randn_like(x[:, :3])


class Steady(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def described(cls):
    return api.describe(cls.__name__.lower(), lambda: api.seeded(cls), inputs={"x": (None, 8)},
                        outputs={"y": (None, 3)}, decision="argmax")


@pytest.mark.parametrize("cls", [Dropped, Noisy])
def test_a_model_that_disagrees_with_itself_fails_as_such_and_nothing_is_judged(cls, tmp_path):
    report = api.parity(described(cls), "torch,onnxruntime", n=64, folder=tmp_path / "out")
    reference = report.runs[0]
    assert reference.status == "nondeterministic"
    assert "two runs on the same 64 cases differ" in reference.reason
    assert report.comparisons == ()  # no backend judged against a moving target
    assert report.status == "FAILED" and not report
    assert report.headline.startswith("FAILED: torch@fp32 is not deterministic: two runs on the same 64 cases")
    assert "no backend was judged against it" in report.headline
    assert "error accumulates" not in api.format_report(report)


def test_a_deterministic_model_is_judged_as_before(tmp_path):
    report = api.parity(described(Steady), "torch,onnxruntime", n=64, folder=tmp_path / "out")
    assert report.runs[0].status == "ran" and report, api.format_report(report)


def test_saved_runs_carry_it_and_a_later_compare_says_the_same(tmp_path):
    api.run(described(Dropped), "torch,onnxruntime", n=16, folder=tmp_path / "out", out=tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "torch_fp32.json").read_text())
    assert saved["run"]["status"] == "nondeterministic"
    report = api.compare([tmp_path / "run"])
    assert report.status == "FAILED" and "torch@fp32 is not deterministic" in report.headline


def test_the_command_line_exits_1_with_the_reason(tmp_path, capsys):
    from harness.cli import main

    source = tmp_path / "model.py"
    source.write_text("from tests.harness.parity.test_reference_repeats import Dropped, described\n"
                      "def describe_model():\n    return described(Dropped)\n")
    code = main(["parity", "-q", "--model", f"{source}:describe_model", "--backends", "torch,onnxruntime",
                 "--n", "32", "--artifacts", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1
    assert ": nondeterministic: two runs on the same 32 cases differ" in out
    assert out.splitlines()[-1].startswith("FAILED: torch@fp32 is not deterministic")


def test_rounding_alone_is_no_disagreement_but_nan_against_a_number_is():
    a = np.linspace(-3, 3, 60, dtype=np.float32).reshape(20, 3)
    assert disagreement({"y": a}, {"y": np.nextafter(a, np.float32(np.inf))}) == ""  # one ULP apart
    assert disagreement({"y": np.full((2, 3), np.nan, np.float32)}, {"y": np.full((2, 3), np.nan, np.float32)}) == ""
    moved = a.copy()
    moved[7, 1] = np.nan
    said = disagreement({"y": a}, {"y": moved})
    assert "1 of 60 values of output 'y' (case 7:" in said


class SoftmaxOverBatch(nn.Module):
    """Another classic slip: softmax over dim 0, the batch, so a case's output depends on the cases beside it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 3)

    def forward(self, x):
        return torch.softmax(self.a(x), dim=0)


class BatchCentred(nn.Module):
    """Centred on the batch's own mean, as a batch norm in training mode does: deterministic, batch-dependent."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 3)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.b(h - h.mean(dim=0, keepdim=True))


@pytest.mark.parametrize("cls", [SoftmaxOverBatch, BatchCentred])
def test_a_model_whose_cases_depend_on_their_batch_fails_as_such_and_nothing_is_judged(cls, tmp_path):
    """Every backend runs a chunk as one batch, so they agree with each other (it PASSED); an app predicting one
    case at a time gets other outputs. The reference run on the same cases in two batches says so."""
    report = api.parity(described(cls), "torch,onnxruntime", n=64, folder=tmp_path / "out")
    reference = report.runs[0]
    assert reference.status == "nondeterministic", api.format_report(report)
    assert "depend on the other cases in their batch" in reference.reason
    assert report.comparisons == () and report.status == "FAILED" and not report


def test_batch_splits_alone_are_no_dependence_but_a_batch_mean_is():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 3)).astype(np.float32)
    assert batch_dependence({"y": a}, {"y": np.nextafter(a, np.float32(np.inf))}, None) == ""
    said = batch_dependence({"y": a}, {"y": a - a[:10].mean(0)}, None)
    assert "depend on the other cases in their batch" in said and "output 'y'" in said
    # an fp16 program as the reference: its accumulation order may follow the batch, a few float16 steps apart
    # (zoo-mobilenet-v3-small under the emulator: 0.017395 then 0.0173187, FAILED as batch-dependent under fp32's
    # tolerance); that is its precision's rounding, judged by its own policy
    steps16 = a + 8 * np.spacing(a.astype(np.float16)).astype(np.float32)
    assert batch_dependence({"y": a}, {"y": steps16}, None) != ""
    assert batch_dependence({"y": a}, {"y": steps16}, None, get_policy("fp16")) == ""
