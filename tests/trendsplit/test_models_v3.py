"""trendsplit-v3 beside v1 and v2: fed encoding v3 only, trained on the owners' mixture, served over its mirror."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.models import get_model
from trendsplit import data, models, net, train
from trendsplit.encoding import L
from trendsplit.errors import EncodingVersionMismatch


def test_v3_declares_its_version_and_its_threshold_in_the_metadata():
    spec = get_model("trendsplit-v3")
    assert spec.metadata["encoding_version"] == "3" and models.encoding_version(spec) == 3
    assert float(spec.metadata.get(models.THRESHOLD_KEY, 0.5)) == spec.threshold == models.V3_THRESHOLD
    card = json.loads((train.WEIGHTS / "trendsplit-v3.card.json").read_text())
    assert card["encoding_version"] == 3 and card["recipe"]["habits"] == "mixture"
    assert card["data"]["habits"]["Mixture"] == {k: list(v) if isinstance(v, tuple) else v
                                                 for k, v in data.Mixture().__dict__.items()}


def test_v3_cases_are_encoded_with_seven_channels_and_the_others_are_refused():
    spec = get_model("trendsplit-v3")
    cases = spec.make_cases(6, seed=0)
    assert cases.inputs.shape == (6, 7, L) and spec.inputs[0].shape == (None, 7, L)
    with torch.no_grad():
        out = spec.build()(torch.from_numpy(cases.inputs))
    assert out.shape == (6, L) and torch.isfinite(out).all()
    for other in ("trendsplit", "trendsplit-v2"):
        with pytest.raises(EncodingVersionMismatch, match=f"got encoding v{models.encoding_version(get_model(other))}"):
            models.check_pairing(spec, get_model(other).make_cases(2, seed=0).inputs)
    with pytest.raises(EncodingVersionMismatch, match="takes encoding v2"):
        models.check_pairing(get_model("trendsplit-v2"), cases.inputs)


def test_mirroring_y_is_the_v3_mirror_of_the_channels_past_x_and_y_bit_for_bit():
    """What the served trendsplit-v3 relies on beyond v2's own (tested in test_models_v2.py)."""
    from trendsplit.encoding import encode_batch

    logs = [log.points for log in data.parity_logs(400, 3)]
    plain = encode_batch(logs, 3)
    mirrored = encode_batch([p * np.array([1.0, -1.0]) for p in logs], 3)
    signs = np.array(net.V3_MIRROR, dtype=np.float32)[None, :, None]
    assert np.array_equal(mirrored[:, 2:], (plain * signs)[:, 2:])
    assert net.V3_MIRROR[:4] == net.V2_MIRROR


def test_served_v3_averages_the_trained_net_over_the_mirror():
    served = train.load("trendsplit-v3")
    trained = train.ARCHITECTURES["trendsplit-v3"].build()
    trained.load_state_dict(served.state_dict())
    assert served.body[0].in_channels == 7 and served.body[0].out_channels == net.V3_CHANNELS
    x = torch.from_numpy(data.dataset(64, 5, version=3, habits=data.Mixture()).inputs)
    signs = torch.tensor(net.V3_MIRROR).view(1, 7, 1)
    with torch.no_grad():
        out, plain, flipped = served(x), trained.eval().logits(x), trained.logits(x * signs)
        assert torch.allclose(out, torch.sigmoid((plain + flipped) / 2), atol=1e-7, rtol=0)
        assert torch.allclose(served(x * signs), out, atol=1e-7, rtol=0)
