"""trendsplit-v3b: trendsplit-v3 grown (the whole log in view, a slope channel), fine-tuned from v3's weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.models import get_model
from harness.spec import weights_sha256
from trendsplit import data, models, net, train
from trendsplit.encoding import L


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return torch.from_numpy(data.dataset(64, 5, version=3, habits=data.Mixture()).inputs)


def _v3b(mirror=None) -> net.TrendSplitNet:
    return net.TrendSplitNet(net.V3_CHANNELS, 7, net.WHOLE_DILATIONS, mirror=mirror, slope=True)


def test_v3b_takes_encoding_v3_and_sees_the_whole_log():
    spec = get_model("trendsplit-v3b")
    assert models.encoding_version(spec) == 3 and spec.inputs[0].shape == (None, 7, L)
    assert float(spec.metadata.get(models.THRESHOLD_KEY, 0.5)) == spec.threshold == models.V3B_THRESHOLD
    assert net.receptive_field(dilations=net.WHOLE_DILATIONS) >= 2 * L - 1  # any position sees every other
    served = spec.build()
    assert served.body[0].in_channels == 8 and [m.dilation[0] for m in served.body[::2]] == list(net.WHOLE_DILATIONS)
    out = served(torch.from_numpy(spec.make_cases(6, seed=0).inputs))
    assert out.shape == (6, L) and torch.isfinite(out).all()


def test_grown_computes_what_the_source_computes_and_a_fresh_net_does_not(inputs):
    v3 = train.load("trendsplit-v3")
    grown = net.grown(v3, _v3b(net.V3_MIRROR)).eval()
    fresh = _v3b(net.V3_MIRROR).eval()
    with torch.no_grad():
        expected = v3(inputs)
        assert torch.allclose(grown(inputs), expected, atol=1e-6, rtol=0)
        assert not torch.allclose(fresh(inputs), expected, atol=1e-2, rtol=0)
    weights = grown.state_dict()
    assert torch.equal(weights["body.0.weight"][:, 7], torch.zeros(net.V3_CHANNELS, net.KERNEL))  # slope unused
    with pytest.raises(ValueError, match="first layers"):
        net.grown(v3, net.TrendSplitNet(net.V3_CHANNELS, 7, (1, 2, 8, 4)))
    with pytest.raises(ValueError, match="body.0.weight"):
        net.grown(v3, net.TrendSplitNet(net.CHANNELS, 7, net.WHOLE_DILATIONS))


def test_the_slope_channel_is_the_step_over_its_gap_floored_and_clamped():
    x = torch.zeros(1, 7, 6)
    x[0, 2] = torch.tensor([1.0, 1.0, -3.0, 100.0, 0.5, 0.0])  # DY, seconds
    x[0, 3] = torch.tensor([0.5, 2.0**-10, 1.0, 1.0, 0.0, 0.0])  # DX, days
    slope = _v3b()._features(x)[0, 7]
    assert slope.tolist() == [2.0, 64.0, -3.0, 64.0, 32.0, 0.0]
    with pytest.raises(ValueError, match="slope channel"):
        net.TrendSplitNet(inputs=2, slope=True)


def test_served_v3b_averages_over_the_mirror_with_the_slope_mirrored_too(inputs):
    served = train.load("trendsplit-v3b")
    signs = torch.tensor(net.V3_MIRROR).view(1, 7, 1)
    plain = _v3b()
    plain.load_state_dict(served.state_dict())
    with torch.no_grad():
        out = served(inputs)
        assert torch.allclose(served(inputs * signs), out, atol=1e-6, rtol=0)
        assert torch.allclose(out, torch.sigmoid((plain.logits(inputs) + plain.logits(inputs * signs)) / 2),
                              atol=1e-6, rtol=0)


def test_the_card_names_the_weights_training_started_from():
    card = json.loads((train.WEIGHTS / "trendsplit-v3b.card.json").read_text())
    assert card["start"] == {"architecture": "trendsplit-v3",
                             "weights_sha256": weights_sha256(train.load("trendsplit-v3"))}
    assert card["encoding_version"] == 3 and card["recipe"]["habits"] == "mixture"
    assert card["weights_sha256"] == weights_sha256(train.load("trendsplit-v3b"))
    assert card["served"]["validation"]["within_1"]["f1"] > 0.8
    assert np.isfinite(card["training_seconds"])
