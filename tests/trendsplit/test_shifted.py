"""The shifted-habits evaluation: each set's logs, its re-tuned baselines, the differences and the criteria.

Measured on `trendsplit` (v1), whose export the suite shares; the committed evaluation is trendsplit-v4's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trendsplit import baselines, data, shifted, train
from trendsplit.encoding import decode
from trendsplit.metrics import score

SETS = [shifted.STANDARD, data.SHIFTS["noise-3s"]]


@pytest.fixture(scope="module")
def small(trendsplit_export):
    """trendsplit (v1, whose export the suite shares) on 40 logs per set, baselines re-tuned on 8, through
    torch and one fp16 profile."""
    folder = trendsplit_export[1]
    return shifted.evaluate_shifts("trendsplit", None, n=40, tune_n=8, sets=SETS, artifacts=folder.parent,
                                   profiles=shifted.FP16_PROFILES[:1], draws=200)


def test_each_set_is_scored_on_its_own_habits_against_baselines_tuned_on_other_logs_of_them(small):
    assert [s.name for s in small.sets] == ["standard", "noise-3s"]
    module = train.load("trendsplit")
    for s, shift in zip(small.sets, SETS, strict=True):
        logs = data.dataset(40, shifted.EVAL_SEED, 1, shift.habits)
        truths = [log.breaks for log in logs.logs]
        with torch.no_grad():
            probs = module(torch.from_numpy(logs.inputs)).numpy()
        preds = [decode(p, int(n), 0.5) for p, n in zip(probs, logs.lengths, strict=True)]
        assert s.f1["trendsplit"] == pytest.approx(score(preds, truths, 1).f1, abs=0.03)  # one decision of ~40
        tuning = data.dataset(8, shifted.TUNE_SEED, habits=shift.habits).logs
        assert s.penalties["brute force re-tuned"] == baselines.tune(baselines.brute_force, tuning)
        pelt = [baselines.pelt(log.points, s.penalties["PELT re-tuned"]) for log in logs.logs]
        assert s.f1["PELT re-tuned"] == score(pelt, truths, 1).f1
    noisy, standard = small.sets[1], small.sets[0]
    assert noisy.penalties["PELT re-tuned"] > standard.penalties["PELT re-tuned"]  # tuned for 3 s of noise


def test_differences_are_the_candidate_minus_each_detector_with_an_interval_around_it(small):
    for s in small.sets:
        for b in shifted.BASELINES:
            d, low, high = s.differences[f"trendsplit - {b}"]
            assert d == pytest.approx(s.f1["trendsplit"] - s.f1[b]) and low <= d <= high and low < high


def test_the_criteria_follow_the_figures_and_one_failure_fails_the_whole(small):
    criteria = dict(small.criteria())
    noisy = small.sets[1]
    d, low, _ = noisy.differences["trendsplit - PELT re-tuned"]
    line = next(t for t in criteria if t.startswith("noise-3s: trendsplit - PELT re-tuned"))
    assert criteria[line] == (low > 0) and f"{d:+.3f}" in line
    fp16 = [t for t in criteria if "fp16-storage" in t]
    assert len(fp16) == 2 and all(criteria[t] == (abs(float(t.split("by ")[1].split(",")[0])) <= 0.005) for t in fp16)
    assert bool(small) == all(criteria.values())
    assert not any(t.startswith("standard: trendsplit - PELT") for t in criteria)  # the standard set: the reference


def test_the_table_and_json_carry_every_set_and_criterion(small, tmp_path):
    written = small.write(tmp_path / "s.json", tmp_path / "s.md", header="# label\n\n")
    assert [p.name for p in written] == ["s.json", "s.md"]
    doc = json.loads((tmp_path / "s.json").read_text())
    assert [s["name"] for s in doc["sets"]] == ["standard", "noise-3s"] and doc["all_hold"] == bool(small)
    assert len(doc["criteria"]) == len(small.criteria())
    table = (tmp_path / "s.md").read_text()
    assert table.startswith("# label") and table.count("\n| noise-3s") == 1
    assert f"{small.sets[1].f1['PELT re-tuned']:.3f} (pen {small.sets[1].penalties['PELT re-tuned']:.3g})" in table


def test_a_standard_loss_beyond_the_bound_fails():
    result = shifted.ShiftedEvaluation("a", "b", 10, 10)
    result.sets.append(shifted.SetResult("standard", "", 10, {"a": 0.9, "b": 0.906}, {}, {},
                                         {"a - b": (-0.006, -0.02, 0.01)}, 0))
    assert not result and "-0.0060 >= -0.005" in result.criteria()[0][0]
    result.sets[0] = shifted.SetResult("standard", "", 10, {"a": 0.9, "b": 0.904}, {}, {},
                                       {"a - b": (-0.004, -0.02, 0.01)}, 0)
    assert result


def test_no_criterion_is_no_pass():
    assert not shifted.ShiftedEvaluation("a", None, 0, 0)


def test_the_command_refuses_an_unknown_model_in_one_line(capsys):
    from trendsplit.cli import main

    with pytest.raises(SystemExit) as exit_:  # argparse's own usage error
        main(["shifted", "--candidate", "nope"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err.splitlines()[-1] and "Traceback" not in err


def test_near_threshold_counts_only_read_positions(small):
    assert all(isinstance(s.near_threshold, int) and 0 <= s.near_threshold <= 40 * 99 for s in small.sets)
    assert np.isfinite([s.f1[k] for s in small.sets for k in s.f1]).all()


def test_a_written_evaluation_reads_back_to_the_same_figures_and_verdicts(small, tmp_path):
    small.write(tmp_path / "s.json")
    again = shifted.ShiftedEvaluation.from_dict(json.loads((tmp_path / "s.json").read_text()))
    assert again.to_dict() == small.to_dict() and again.table() == small.table()


def test_the_committed_table_is_its_json_rendered_and_its_verdicts_follow_its_figures():
    """The committed files are one run's: the Markdown is the JSON's table, and no verdict was edited by hand."""
    doc = json.loads(shifted.COMMITTED_JSON.read_text())
    result = shifted.ShiftedEvaluation.from_dict(doc)
    assert result.to_dict() == doc
    markdown = shifted.COMMITTED_MARKDOWN.read_text()
    assert markdown.endswith(result.table() + "\n") and markdown.startswith("# Shifted habits")
    assert "Written by `python -m trendsplit shifted" in markdown
    assert [s.name for s in result.sets] == ["standard", *data.SHIFTS]
