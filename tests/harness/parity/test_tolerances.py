"""Policies: named, reasoned, and chosen by the least precise side."""

import pytest

from harness.errors import UsageError
from harness.parity.tolerances import FP16, FP32, POLICIES, get_policy, policy_for


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


def test_an_override_replaces_one_policys_numbers_and_renames_it():
    from harness.parity.tolerances import Overrides

    overrides = Overrides.of("fp32=1e-4", {"fp16": 0.05})
    fp32 = overrides.apply(FP32)
    assert (fp32.atol, fp32.rtol, fp32.name) == (1e-4, FP32.rtol, "fp32(atol=0.0001)")
    assert fp32.reason.startswith("fp32 with atol=0.0001 set by the user (the policy's own: atol 5e-05).")
    fp16 = overrides.apply(FP16)
    assert (fp16.atol, fp16.rtol, fp16.name) == (FP16.atol, 0.05, "fp16(rtol=0.05)")
    assert Overrides().apply(FP32) is FP32 and not Overrides()


@pytest.mark.parametrize("bad", [{"fp64": 1e-4}, {"fp32": -1.0}, {"fp32": float("inf")}, {"fp32": True},
                                 {"fp32": "1e-4"}])
def test_an_override_of_no_policy_or_no_number_is_a_usage_error(bad):
    from harness.parity.tolerances import Overrides

    with pytest.raises(UsageError):
        Overrides(atol=bad)


def test_the_policy_reasons_speak_of_no_particular_model():
    # They are shown on every model's report: trendsplit's sigmoid and layer count are not a user's model's.
    for policy in POLICIES.values():
        said = [w for w in ("trendsplit", "sigmoid", "5 layers", "five layers", "probability") if w in policy.reason]
        assert said == [], (policy.name, said)


def test_overrides_given_twice_merge_later_ones_winning_and_a_bare_number_is_refused():
    from harness.parity.tolerances import Overrides

    merged = Overrides.of(["fp32=1e-4,fp16=0.05", {"fp32": 2e-4}])
    assert dict(merged.atol) == {"fp32": 2e-4, "fp16": 0.05}
    with pytest.raises(UsageError, match="atol is policy name -> value"):
        Overrides.of(atol=1e-4)
