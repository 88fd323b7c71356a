"""trendsplit-v2 beside trendsplit: each model declares its encoding version and is fed only that."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.models import get_model
from trendsplit import models, train
from trendsplit.encoding import L
from trendsplit.errors import EncodingVersionMismatch


def test_each_model_declares_the_version_it_was_trained_on():
    for name, version in (("trendsplit", 1), ("trendsplit-gru", 1), ("trendsplit-v2", 2)):
        spec = get_model(name)
        assert spec.metadata == {"encoding_version": str(version)}
        assert models.encoding_version(spec) == version
        card = json.loads((train.WEIGHTS / f"{name}.card.json").read_text())
        assert card.get("encoding_version", 1) == version  # cards before v2 carry none: v1


@pytest.mark.parametrize("name, channels", [("trendsplit", 2), ("trendsplit-v2", 4)])
def test_a_models_cases_are_encoded_with_its_version(name, channels):
    spec = get_model(name)
    cases = spec.make_cases(6, seed=0)
    assert cases.inputs.shape == (6, channels, L) and spec.inputs[0].shape == (None, channels, L)
    models.check_pairing(spec, cases.inputs)
    with torch.no_grad():
        out = spec.build()(torch.from_numpy(cases.inputs))
    assert out.shape == (6, L) and torch.isfinite(out).all()


@pytest.mark.parametrize("model, other", [("trendsplit-v2", "trendsplit"), ("trendsplit", "trendsplit-v2")])
def test_a_model_fed_the_other_versions_cases_gets_a_named_error(model, other):
    spec = get_model(model)
    wrong = get_model(other).make_cases(3, seed=0).inputs
    with pytest.raises(EncodingVersionMismatch, match=f"takes encoding v{models.encoding_version(spec)}") as info:
        models.check_pairing(spec, wrong)
    assert info.value.code == "encoding_version_mismatch"


def test_inputs_of_no_known_version_are_named_by_shape():
    with pytest.raises(EncodingVersionMismatch, match=r"inputs of shape \[3, 3, 100\]"):
        models.check_pairing(get_model("trendsplit-v2"), np.zeros((3, 3, L), dtype=np.float32))
