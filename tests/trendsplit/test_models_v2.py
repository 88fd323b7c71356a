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
        assert spec.metadata["encoding_version"] == str(version)
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


def test_mirroring_y_is_the_v2_mirror_of_the_encoding_bit_for_bit():
    """What the served trendsplit-v2 relies on: encoding a log with y negated gives its encoding times
    V2_MIRROR, for realistic and adversarial logs alike (every step an exact negation; a zero may come
    back as -0.0, which no conv or clamp tells apart)."""
    from trendsplit import data, net
    from trendsplit.encoding import encode_batch

    logs = [log.points for log in data.parity_logs(400, 3)]
    plain = encode_batch(logs, 2)
    mirrored = encode_batch([p * np.array([1.0, -1.0]) for p in logs], 2)
    expected = plain * np.array(net.V2_MIRROR, dtype=np.float32)[None, :, None]
    assert np.array_equal(mirrored, expected)
    differ = mirrored.view(np.uint32) != expected.view(np.uint32)
    assert (mirrored[differ] == 0).all()


def test_served_v2_averages_the_trained_net_over_the_mirror():
    from trendsplit import data, net

    served = train.load("trendsplit-v2")
    trained = train.ARCHITECTURES["trendsplit-v2"].build()
    trained.load_state_dict(served.state_dict())  # the same weights: the mirror is not one of them
    assert set(served.state_dict()) == set(trained.eval().state_dict())
    x = torch.from_numpy(data.dataset(64, 5, version=2).inputs)
    signs = torch.tensor(net.V2_MIRROR).view(1, 4, 1)
    with torch.no_grad():
        out, plain, flipped = served(x), trained.logits(x), trained.logits(x * signs)
        assert torch.allclose(out, torch.sigmoid((plain + flipped) / 2), atol=1e-7, rtol=0)
        assert torch.allclose(served(x * signs), out, atol=1e-7, rtol=0)  # symmetric by construction
        assert (torch.sigmoid(plain) - torch.sigmoid(flipped)).abs().max() > 1e-3  # the trained net alone is not


def test_each_model_declares_the_threshold_it_is_decided_at():
    """Absent means 0.5 (the v1 models' metadata stays as it was); v2's is its validation pick,
    which the card's sweep records as declared, and it reaches the CoreML metadata an app reads."""
    for name in ("trendsplit", "trendsplit-gru"):
        assert set(get_model(name).metadata) == {"encoding_version"} and get_model(name).threshold == 0.5
    spec = get_model("trendsplit-v2")
    assert float(spec.metadata[models.THRESHOLD_KEY]) == spec.threshold == models.V2_THRESHOLD
    card = json.loads((train.WEIGHTS / "trendsplit-v2.card.json").read_text())
    assert card["threshold_sweep"]["declared"] == spec.threshold == card["threshold_sweep"]["best"]


def test_decisions_compare_the_threshold_as_the_apps_float_does():
    from trendsplit.encoding import decode

    at = np.float32(0.41)
    probs = np.zeros(L, np.float32)
    probs[[1, 2, 3]] = [0.45, at, np.nextafter(at, np.float32(1))]
    assert decode(probs, 10, 0.41) == [1, 3]  # ContractTests.testTheModelsThresholdDecidesItsSplits
    assert decode(probs.astype(np.float64), 10, 0.41) == [1, 3]
