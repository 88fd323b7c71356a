"""Verdicts say what they rest on: one label per outcome, vacuous comparisons are not passes,
flips are printed on the right side of the threshold, and converters stay quiet."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness import api
from harness.errors import ExportError
from harness.parity.compare import compare
from harness.parity.tolerances import FP16, FP32
from harness.report.text import plural, side, verdict_text


def _probs(seed, shape=(50, 20)):
    return np.random.default_rng(seed).uniform(0, 1, size=shape).astype(np.float32)


def test_all_zero_outputs_are_inconclusive_not_a_pass():
    zeros = np.zeros((40, 8), np.float32)
    for policy in (FP32, FP16):
        c = compare(zeros, zeros, policy=policy, decision="none")
        assert c.verdict == "inconclusive" and not c
        assert "within atol" in c.inconclusive and verdict_text(c) == "INCONCLUSIVE"
    tiny = np.full((40, 8), 1e-9, np.float32)  # an untrained net's BatchNorm-starved outputs
    assert compare(tiny, tiny * 1.5, policy=FP32, decision="none").verdict == "inconclusive"


def test_no_judged_decision_under_a_decisions_policy_is_inconclusive():
    near = np.full((30, 10), 0.505, np.float32)  # every value within fp16's 0.02 margin of 0.5
    c = compare(near, near, policy=FP16, decision="threshold")
    assert c.decisions_compared == 0 and c.verdict == "inconclusive" and "margin" in c.inconclusive


def test_real_outputs_pass_and_a_real_difference_fails():
    ref = _probs(0)
    assert compare(ref, ref, policy=FP32).verdict == "pass"
    bad = ref.copy()
    bad[3, 4] = 1 - bad[3, 4] if abs(bad[3, 4] - 0.5) > 0.1 else 0.99
    assert compare(ref, bad, policy=FP32).verdict == "fail"


def test_an_output_without_a_decision_rule_is_judged_by_numbers_even_under_fp16():
    ref = np.random.default_rng(1).normal(size=(20, 6)).astype(np.float32)
    off = ref + np.float32(0.5)
    c = compare(ref, off, policy=FP16, decision="none")
    assert c.judged == "numbers" and c.verdict == "fail"
    assert compare(ref, ref, policy=FP16, decision="none").verdict == "pass"


def test_one_label_per_outcome_whatever_the_numbers():
    ref = _probs(2)
    exact = compare(ref, ref, policy=FP16)
    noisy = compare(ref, ref + np.float32(0.004), policy=FP16)  # numbers off, decisions kept
    assert verdict_text(exact) == verdict_text(noisy) == "PASS"
    assert exact.judged == noisy.judged == "decisions"


@pytest.mark.parametrize(("value", "threshold", "shown"), [
    (0.50049, 0.5, "0.5005"), (0.4999, 0.5, "0.4999"), (0.474, 0.5, "0.474"), (0.5000001, 0.5, "0.5000001"),
    (0.7, 0.7000001, "0.700"),
])
def test_a_flip_is_printed_on_its_side_of_the_threshold(value, threshold, shown):
    text = side(value, threshold)
    assert (float(text) > threshold) == (value > threshold)
    assert text == shown


def test_counts_read_as_english():
    assert plural(1, "decision") == "1 decision" and plural(2, "decision") == "2 decisions"
    assert plural(1234, "case") == "1,234 cases"


def test_export_keeps_converters_quiet_and_shows_their_words_on_failure(tmp_path, capfd):
    model = api.describe("quiet", nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU()), inputs={"x": (None, 2, 8)},
                         outputs={"y": (None, 3, 6)})
    api.export(model, tmp_path / "quiet")
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)

    class Det(nn.Module):
        def forward(self, x):
            return torch.linalg.det(x)

    failing = api.describe("det", Det(), inputs={"x": (None, 3, 3)}, outputs={"d": (None,)})
    with pytest.raises(ExportError) as info:
        api.export(failing, tmp_path / "det")
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    assert "linalg_det" in info.value.output  # the converter's words, kept for the user
