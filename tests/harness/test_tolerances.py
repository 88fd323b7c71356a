"""Policies: named, reasoned, and chosen by the least precise side."""

import pytest

from harness.errors import UsageError
from harness.tolerances import FP16, FP32, POLICIES, get_policy, policy_for


def test_every_policy_explains_its_numbers():
    for policy in POLICIES.values():
        assert len(policy.reason) > 80 and policy.atol > 0
        assert policy.decision_margin >= policy.atol  # a margin smaller than the noise is no margin


def test_fp16_is_looser_than_fp32():
    assert FP16.atol > FP32.atol and FP16.decision_margin > FP32.decision_margin


def test_policy_for_takes_the_least_precise_side():
    assert policy_for("fp32", "fp32") is FP32
    assert policy_for("fp32", "fp16") is FP16
    assert policy_for("fp16", "fp32") is FP16


def test_unknown_policy_lists_known_ones():
    with pytest.raises(UsageError, match="known policies: fp32, fp16"):
        get_policy("bf16")
