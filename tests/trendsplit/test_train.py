"""Training: deterministic for a seed; trained weights load and beat chance."""

from __future__ import annotations

import json

import pytest

from harness.spec import weights_sha256
from trendsplit import train


@pytest.fixture
def tiny_recipe(monkeypatch):
    monkeypatch.setitem(train.RECIPES, "trendsplit",
                        train.Recipe(train_size=400, val_size=100, epochs=1, batch=64, lr=3e-3, pos_weight=4.0))


def test_training_is_deterministic_for_a_seed(tiny_recipe):
    a, card_a = train.train("trendsplit", seed=5, progress=False)
    b, card_b = train.train("trendsplit", seed=5, progress=False)
    assert weights_sha256(a) == weights_sha256(b)
    assert card_a["history"] == card_b["history"]
    c, _ = train.train("trendsplit", seed=6, progress=False)
    assert weights_sha256(c) != weights_sha256(a)


def test_save_writes_weights_and_card_atomically(tiny_recipe, tmp_path):
    module, card = train.train("trendsplit", seed=5, progress=False)
    path = train.save("trendsplit", module, card, folder=tmp_path)
    saved = json.loads((tmp_path / "trendsplit.card.json").read_text())
    assert saved["weights_sha256"] == weights_sha256(train.load("trendsplit", folder=tmp_path))
    assert {"train_seed", "train_size"} <= set(saved["data"]) and "torch" in saved["tool_versions"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trendsplit.card.json", path.name]


@pytest.mark.parametrize("arch", sorted(train.ARCHITECTURES))
def test_committed_weights_match_their_card(arch):
    card = json.loads((train.WEIGHTS / f"{arch}.card.json").read_text())
    assert card["weights_sha256"] == weights_sha256(train.load(arch))
    assert card["validation"]["within_1"]["f1"] > 0.7
    # The budget is the recipe's, not the wall clock: on the shared 2-core machine the same
    # recipe took 3x longer while others' jobs ran. 2.88M log-epochs is the v2 recipe (120k x 24).
    assert card["recipe"]["train_size"] * card["recipe"]["epochs"] <= 2_880_000
    recipe = train.RECIPES[arch].__dict__  # the recipe a retraining would use (older cards lack later fields)
    assert {**recipe, **card["recipe"]} == recipe
    assert card.get("encoding_version", 1) == train.ARCHITECTURES[arch].encoding_version


def test_v2_training_with_y_flips_is_deterministic_and_uses_four_channels():
    recipe = train.Recipe(train_size=300, val_size=100, epochs=1, batch=64, lr=3e-3, pos_weight=1.0, flip_y=True)
    a, card = train.train("trendsplit-v2", seed=5, progress=False, recipe=recipe)
    b, _ = train.train("trendsplit-v2", seed=5, progress=False, recipe=recipe)
    plain, _ = train.train("trendsplit-v2", seed=5, progress=False,
                           recipe=train.Recipe(300, 100, 1, 64, 3e-3, 1.0, flip_y=False))
    assert weights_sha256(a) == weights_sha256(b) != weights_sha256(plain)
    assert card["encoding_version"] == 2 and a.body[0].in_channels == 4


def test_missing_weights_say_how_to_train(tmp_path):
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="python -m trendsplit.train --arch trendsplit"):
        train.load("trendsplit", folder=tmp_path)
