"""The decision-threshold sweep: scores per threshold, the rule that names the best, the card record."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from harness.models import get_model
from trendsplit import threshold, train
from trendsplit.encoding import L
from trendsplit.metrics import SplitScores


def served(card: dict) -> dict:
    """The validation figures of the module the weights are served in (trendsplit-v2: mirror-averaged)."""
    return card["served"]["validation"] if "served" in card else card["validation"]


def test_curve_scores_the_decisions_above_each_threshold():
    probs = np.zeros((2, L), dtype=np.float32)
    probs[0, [3, 6, 9]] = 0.6, 0.3, 0.9  # log of 10 readings: index 9 is the last, never a split
    probs[1, 2] = 0.35  # log of 5 readings, its break at 1: one index off
    low, high = threshold.curve(probs, [10, 5], [(3,), (1,)], grid=(0.25, 0.5))
    # 0.25: splits 3, 6 and 2; only 3 is exact, and 2 is within one of 1
    assert (low.exact, low.within_1) == (SplitScores(1, 3, 2), SplitScores(2, 3, 2))
    # 0.5: split 3 alone
    assert (high.exact, high.within_1) == (SplitScores(1, 1, 2), SplitScores(1, 1, 2))


def _point(t: float, tp_exact: int, tp_within: int) -> threshold.Point:
    return threshold.Point(t, SplitScores(tp_exact, 10, 10), SplitScores(tp_within, 10, 10))


def test_best_takes_the_highest_f1_plus_f1_within_one():
    sweep = threshold.Sweep("x", 2, 10, (_point(0.3, 8, 9), _point(0.5, 7, 9), _point(0.6, 8, 8)))
    assert sweep.best.threshold == 0.3


def test_best_breaks_a_tie_towards_the_untuned_half():
    sweep = threshold.Sweep("x", 2, 10, (_point(0.3, 8, 9), _point(0.55, 9, 8), _point(0.8, 8, 9)))
    assert sweep.best.threshold == 0.55


def test_the_sweep_at_one_half_reproduces_the_validation_figures_training_wrote():
    card = json.loads((train.WEIGHTS / "trendsplit-v2.card.json").read_text())
    (point,) = threshold.sweep("trendsplit-v2", grid=(0.5,)).points
    assert point.exact.to_dict() == served(card)["exact"]
    assert point.within_1.to_dict() == served(card)["within_1"]


def test_record_adds_the_sweep_and_keeps_the_rest_of_the_card(tmp_path):
    for suffix in (".pt", ".card.json"):
        shutil.copy(train.WEIGHTS / f"trendsplit-v2{suffix}", tmp_path)
    before = json.loads((tmp_path / "trendsplit-v2.card.json").read_text())
    before.pop("threshold_sweep", None)
    sweep = threshold.sweep("trendsplit-v2", grid=(0.3, 0.5), n=40, folder=tmp_path)
    threshold.record(sweep, 0.5, folder=tmp_path)
    after = json.loads((tmp_path / "trendsplit-v2.card.json").read_text())
    recorded = after.pop("threshold_sweep")
    assert after == before
    assert recorded["declared"] == 0.5 and recorded["validation"] == {"seed": 2, "n": 40}
    assert [p["threshold"] for p in recorded["curve"]] == [0.3, 0.5] and recorded["best"] in (0.3, 0.5)


@pytest.mark.parametrize("arch", ["trendsplit-v2", "trendsplit-v3"])
def test_the_committed_card_records_its_sweep_on_validation_and_the_declared_threshold(arch):
    card = json.loads((train.WEIGHTS / f"{arch}.card.json").read_text())
    sweep = card["threshold_sweep"]
    assert sweep["validation"] == {"seed": card["data"]["val_seed"], "n": card["data"]["val_size"]}
    assert sweep["declared"] == get_model(arch).threshold
    at_half = next(p for p in sweep["curve"] if p["threshold"] == 0.5)  # training's own figures, at 0.5
    assert (at_half["f1"], at_half["f1_within_1"]) == (served(card)["exact"]["f1"],
                                                       served(card)["within_1"]["f1"])


def test_the_command_prints_the_curve_with_trainings_figures_at_one_half(capsys):
    from trendsplit.cli import main

    card = json.loads((train.WEIGHTS / "trendsplit-v2.card.json").read_text())
    assert main(["threshold", "--arch", "trendsplit-v2"]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["0.50"])
    assert float(row[3]) == pytest.approx(served(card)["exact"]["f1"], abs=5e-5)  # printed to 4 places
    assert float(row[6]) == pytest.approx(served(card)["within_1"]["f1"], abs=5e-5)
    assert out.count("<- best") == 1 and "95% interval" in out
