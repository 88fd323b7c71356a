"""Named tolerance policies, each with the reasoning that sets its numbers.

A policy judges two things: the numbers (|candidate - reference| <= atol + rtol*|reference|
everywhere) and the decisions an app makes from them (thresholded outputs must agree
wherever the reference is further than `decision_margin` from the threshold; closer
cases are counted and listed, not judged, because any rounding may flip them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.errors import UsageError


@dataclass(frozen=True)
class Policy:
    name: str
    atol: float
    rtol: float
    decision_margin: float
    min_decision_agreement: float
    reason: str
    #: Scale the absolute allowance per case by max(1, the largest magnitude the model's layers
    #: saw on it, max|reference output|) (`compare`; the raw inputs stand in when the reference
    #: did not measure its activations). Rounding in a sum is relative to its summands: it grows
    #: with the activations that fed a value (a classifier's small logit carries the rounding of
    #: its large neighbour's sums), and only with what the layers saw, after the model's clamps.
    input_scaled: bool = True
    #: Whether numeric violations fail the pair, or are reported beside a decision-level verdict.
    #: Non-finite outputs always fail.
    judge_numeric: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


FP32 = Policy(
    name="fp32",
    atol=5e-5,
    rtol=1e-5,
    decision_margin=1e-4,
    min_decision_agreement=1.0,
    reason=(
        "Both sides compute in float32 (unit roundoff u = 2^-24 = 6e-8) and differ only in "
        "summation order and kernels. A dot product of fan-in K accumulates rounding like "
        "sqrt(K)*u*sum|w*x|: for K = 160 (32 channels x 5 taps), activations up to ~10 and 5 "
        "layers, about 5e-5 on the logit, which the sigmoid (slope <= 1/4) shrinks to ~1e-5 "
        "on the probability. Deeper nets carry more: measured between torch and onnxruntime at "
        "that case scale, resnet18 1.2e-5/2.1, regnet_y_400mf 8e-5/4, efficientnet_b0 1.5e-3/86 "
        "(random init, BatchNorm re-estimated), so atol is 5e-5 times the case's scale: "
        "20-layer nets fit, while the bugs this policy exists to catch are orders larger (a "
        "wrong upsample row: 2.3). Decisions must agree unless the reference is within 2x atol "
        "of the threshold."
    ),
)

FP16 = Policy(
    name="fp16",
    atol=1e-2,
    rtol=1e-2,
    decision_margin=2e-2,
    min_decision_agreement=0.9999,
    judge_numeric=False,
    reason=(
        "fp16 storage rounds every weight and activation to u = 2^-11 = 4.9e-4 relative. "
        "Each layer's sum then carries about sqrt(K)*u*sum|w*x| ~ 13 * 4.9e-4 * 1 per unit of "
        "activation; over 5 layers that is ~4e-2 on the logit, ~1e-2 on the probability after "
        "the sigmoid's 1/4 slope: atol, reported. A trained net's weights make that larger and "
        "input-dependent, so fp16 is judged by the app's decisions: they must agree wherever the "
        "reference is further than 2x atol from the threshold, allowing at most 1 flip in 10,000 "
        "(each one listed; on inputs far from the training data a trained net does flip). "
        "Any NaN or infinity fails."
    ),
)

POLICIES: dict[str, Policy] = {p.name: p for p in (FP32, FP16)}

_RANK = {"fp32": 0, "fp16": 1}


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise UsageError(f"unknown policy {name!r}; known policies: {', '.join(POLICIES)}") from None


def policy_for(*precisions: str) -> Policy:
    """The policy of the least precise side of a comparison."""
    return get_policy(max(precisions, key=lambda p: _RANK.get(p, 99)))
