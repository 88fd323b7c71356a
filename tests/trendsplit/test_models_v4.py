"""trendsplit-v4: the exact posterior, computed in encoding v4 and read by a calibration net."""

from __future__ import annotations

import numpy as np
import torch

from harness.models import get_model
from trendsplit import data, models, net, posterior
from trendsplit.encoding import L, decode, encode_batch


def test_v4_takes_encoding_v4_and_decides_at_one_half():
    spec = get_model("trendsplit-v4")
    assert models.encoding_version(spec) == 4 and spec.inputs[0].shape == (None, 8, L)
    assert spec.threshold == models.V4_THRESHOLD == 0.5 and not spec.trained
    assert models.THRESHOLD_KEY not in spec.metadata  # 0.5: written only where it is not


def test_its_decisions_are_the_posteriors_on_generated_logs():
    """What the app decides from v4's output is what the posterior decides, but where float32's rounding of the
    log-odds sits on the threshold (a probability within 1e-6 of 0.5)."""
    rng = np.random.default_rng(11)
    logs = [data.watch_log(rng, habits=h) for h in (data.DEFAULT_HABITS, *(s.habits for s in data.SHIFTS.values()))
            for _ in range(3)]
    spec = get_model("trendsplit-v4")
    with torch.inference_mode():
        out = spec.build()(torch.from_numpy(encode_batch([log.points for log in logs], 4))).numpy()
    decided = 0
    for log, probs in zip(logs, out, strict=True):
        p = posterior.break_probabilities(log.points)
        unsure = np.abs(p - 0.5) < 1e-6
        mine = set(decode(probs, len(log.points), spec.threshold))
        exact = set(np.flatnonzero(p > 0.5).tolist())
        assert {i for i in mine ^ exact if not unsure[i]} == set()
        decided += len(exact)
    assert decided >= 10  # the logs have breaks, and the posterior finds them


def test_the_calibration_is_the_identity_and_reads_only_the_posterior_channel():
    reader = net.PosteriorReader()
    x = torch.randn(3, 8, L) * 5
    x[:, net.POST_CHANNEL] = torch.linspace(-16, 16, L)
    out = reader(x)
    assert torch.allclose(out, torch.sigmoid(torch.linspace(-16, 16, L)).expand(3, L), atol=0, rtol=0)
    x[:, :net.POST_CHANNEL] = 0.0
    assert torch.equal(reader(x), out)
