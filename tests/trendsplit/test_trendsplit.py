"""The trendsplit model and its synthetic watch logs."""

from __future__ import annotations

import numpy as np
import torch

from harness.models import get_model
from harness.spec import weights_sha256
from trendsplit import data, net
from trendsplit.encoding import L, encode
from trendsplit.registry import MODELS


def test_registry_lists_trendsplit():
    assert get_model("trendsplit") is MODELS["trendsplit"]


def test_parameter_count_matches_the_documented_one():
    assert sum(p.numel() for p in net.TrendSplitNet().parameters()) == 15_841
    assert "15,841 parameters" in net.__doc__


def test_receptive_field_measured_by_perturbation_is_61():
    model = net.seeded()
    x = torch.randn(1, 2, L, generator=torch.Generator().manual_seed(0))
    y = torch.randn(1, 2, L, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        # net(x) and net(x with one position changed) differ only inside the receptive field
        changed = []
        for _ in range(3):
            x2 = x.clone()
            x2[..., 50] = y[..., 50]
            changed.append(model(x2) != model(x))
        reach = torch.nonzero(torch.stack(changed).any(0)[0]).flatten()
    assert reach.min().item() == 50 - 30 and reach.max().item() == 50 + 30
    assert net.receptive_field() == 61


def test_output_contract(trendsplit):
    model = trendsplit.build()
    with torch.no_grad():
        out = model(torch.from_numpy(trendsplit.make_cases(8, seed=0).inputs))
    assert out.shape == (8, L) and out.dtype == torch.float32
    assert ((out >= 0) & (out <= 1)).all() and torch.isfinite(out).all()


def test_seeded_weights_are_deterministic_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = net.seeded()
    after = torch.rand(1)
    assert torch.equal(before, after)
    assert weights_sha256(a) == weights_sha256(net.seeded())
    assert weights_sha256(a) != weights_sha256(net.seeded(seed=1))


def test_watch_logs_are_sorted_in_range_and_labelled():
    rng = np.random.default_rng(0)
    for _ in range(200):
        log = data.watch_log(rng)
        x, _y = log.points[:, 0], log.points[:, 1]
        assert 2 <= len(x) <= L and (np.diff(x) > 0).all()
        assert all(0 <= b < len(x) - 1 for b in log.breaks)
        assert list(log.breaks) == sorted(set(log.breaks))
        encode(log.points)


def test_breaks_are_visible_as_jumps_back_towards_zero():
    rng = np.random.default_rng(1)
    jumps, steady = [], []
    for _ in range(300):
        log = data.watch_log(rng, 60)
        dy = np.abs(np.diff(log.points[:, 1]))
        for i in range(len(dy)):
            (jumps if i in log.breaks else steady).append(abs(log.points[i + 1, 1]))
    # right after a reset the offset is near zero; elsewhere it has drifted away
    assert np.median(jumps) < 0.5 * np.median(steady)


def test_parity_logs_are_seeded_and_cover_every_adversarial_kind():
    a, b = data.parity_logs(200, seed=5), data.parity_logs(200, seed=5)
    assert all(np.array_equal(p.points, q.points) for p, q in zip(a, b, strict=True))
    assert {log.kind for log in a} == {"realistic", *data.ADVERSARIAL}
    assert sum(log.kind == "realistic" for log in a) == 160
    for log in a:
        encode(log.points)


def test_epoch_seconds_logs_are_at_epoch_scale():
    rng = np.random.default_rng(0)
    x = data.ADVERSARIAL["epoch_seconds"](rng)[:, 0]
    assert 1.6e9 < x.min() < 1.9e9
