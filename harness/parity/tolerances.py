"""Named tolerance policies, each with the reasoning that sets its numbers.

A policy judges two things: the numbers (|candidate - reference| <= atol + rtol*|reference|
everywhere) and the decisions an app makes from them (thresholded outputs must agree
wherever the reference is further than `decision_margin` from the threshold; closer
cases are counted and listed, not judged, because any rounding may flip them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

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
    #: saw on it, max|reference output|), as the torch run measured it (without a torch run, the
    #: reference's outputs alone: never the raw inputs, which a model that clamps them never sees;
    #: `compare` takes them only from a direct caller). Rounding in a sum is relative to its summands: it grows
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
        "sqrt(K)*u*sum|w*x|, and every layer adds its own: a few layers of fan-in ~100 with "
        "activations up to ~10 come to a few 1e-5 on an output of order 1. Deeper nets carry more: "
        "measured between torch and onnxruntime at the case's scale, resnet18 1.2e-5/2.1, "
        "regnet_y_400mf 8e-5/4, efficientnet_b0 1.5e-3/86 (random init, BatchNorm re-estimated), so "
        "atol is 5e-5 times the case's scale: 20-layer nets fit, while the bugs this policy exists to "
        "catch are orders larger (a wrong upsample row: 2.3). Decisions must agree unless the "
        "reference is within the margin (2x atol) of its decision boundary (the threshold, or the "
        "runner-up class for argmax)."
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
        "Each layer's sum then carries about sqrt(K)*u*sum|w*x|: for a shallow net of fan-in ~160 "
        "with outputs of order 1, about 1e-2: atol, reported. Deeper and trained nets carry more, "
        "and it depends on the input, so fp16 is judged by the app's decisions: they must agree "
        "wherever the reference is further than the margin (2x atol) from its decision boundary "
        "(the threshold, or the runner-up class for argmax), allowing at most 1 flip in 10,000 (each "
        "one listed; on inputs far from the training data a trained net does flip). Any NaN or "
        "infinity fails."
    ),
)

INT8 = Policy(
    name="int8",
    atol=5e-2,
    rtol=5e-2,
    decision_margin=1e-1,
    min_decision_agreement=0.99,
    judge_numeric=False,
    reason=(
        "Post-training int8 (XNNPACK's PT2E quantizer: weights symmetric per channel, activations per "
        "tensor, ranges calibrated on the model's own cases) rounds every activation to a step of its "
        "tensor's calibrated range / 255: 3.9e-3 of the range, not of the value, so a value far below its "
        "tensor's largest keeps few bits, and an input the calibration did not reach is clipped. A few layers "
        "of that come to a few 1e-2 on outputs of order 1: atol and rtol 5e-2, reported. The numbers are not "
        "the contract; the app's decisions are: they must agree wherever the reference is further than the "
        "margin (2x atol) from its decision boundary, allowing at most 1 flip in 100 (PTQ's usual budget: a "
        "quantized classifier that keeps 99% of its decisions ships; one that does not needs its inputs "
        "normalised or quantization-aware training). Any NaN or infinity fails."
    ),
)

POLICIES: dict[str, Policy] = {p.name: p for p in (FP32, FP16, INT8)}


def shipped(policy: Policy) -> bool:
    """Whether `policy` is one of the harness's own, unchanged (its words aside): hand-set tolerances that
    a pair set against float64 may overrule. A user's override or own policy is their choice, and stands."""
    return any(replace(policy, reason=own.reason) == own for own in (FP32, FP16, INT8))

#: Localisation's per-op limit: an op of the candidate program whose output differs from the same op
#: under the reference profile by more than this, relative to the reference's largest value there,
#: is where divergence starts. 1%: fp16's unit roundoff is 4.9e-4, so a single op (one rounding of
#: its inputs and one of its output) stays two orders below it, and accumulation over a few ops
#: stays under it; an op past it has amplified the error (cancellation, an overflow, a bug).
OP_REL_LIMIT = 0.01

_RANK = {"fp32": 0, "fp16": 1, "int8": 2}


def judged_by(policy: Policy) -> str:
    """What a policy's verdict rests on, in words."""
    allowed = 1 - policy.min_decision_agreement
    decisions = ("every decision" if allowed <= 0 else
                 f"decisions, at most 1 flip in {round(1 / allowed):,} (each listed)")
    return f"numbers and {decisions}" if policy.judge_numeric else f"{decisions}; numbers reported"


def table() -> str:
    """The policies as docs/tolerances.md's markdown table (`python -m harness policies` prints it)."""
    rows = ["| policy | atol | rtol | decision margin | judged by |", "|---|---|---|---|---|"]
    rows += [f"| `{p.name}` | {_short(p.atol)} | {_short(p.rtol)} | {_short(p.decision_margin)} | {judged_by(p)} |"
             for p in POLICIES.values()]
    return "\n".join(rows)


def _short(value: float) -> str:
    """5e-05 -> 5e-5: the docs' way of writing a tolerance."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise UsageError(f"unknown policy {name!r}; known policies: {', '.join(POLICIES)}") from None


def policy_for(*precisions: str) -> Policy:
    """The policy of the least precise side of a comparison."""
    return get_policy(max(precisions, key=lambda p: _RANK.get(p, 99)))


@dataclass(frozen=True)
class Overrides:
    """A user's atol/rtol per policy name (`--atol fp32=1e-4`), applied to whichever policy judges a pair.

    An overridden policy is renamed (`fp32(atol=0.0001)`) so that every report shows the change.
    """

    atol: Mapping[str, float] = field(default_factory=dict)
    rtol: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        for what, given in (("atol", self.atol), ("rtol", self.rtol)):
            for name, value in given.items():
                get_policy(name)
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                        or not 0 <= value <= 1e6:
                    raise UsageError(f"{what} for policy {name!r} must be a finite number in [0, 1e6], got {value!r}")

    def __bool__(self) -> bool:
        return bool(self.atol or self.rtol)

    def apply(self, policy: Policy) -> Policy:
        changed = {k: float(v[policy.name]) for k, v in (("atol", self.atol), ("rtol", self.rtol)) if policy.name in v}
        if not changed:
            return policy
        said = ",".join(f"{k}={v:g}" for k, v in changed.items())
        was = ", ".join(f"{k} {getattr(policy, k):g}" for k in changed)
        return replace(policy, **changed, name=f"{policy.name}({said})",
                       reason=f"{policy.name} with {said} set by the user (the policy's own: {was}). {policy.reason}")

    @classmethod
    def of(cls, atol: Given = None, rtol: Given = None) -> Overrides:
        """From mappings, the command line's `name=value[,name=value]` text, or a list of either (a flag
        given twice): later values win per policy."""
        return cls(_values(atol, "atol"), _values(rtol, "rtol"))


#: An override as a caller may give it: policy name -> value, "fp32=1e-4", a list of those, or None.
Given = Mapping[str, float] | str | list | tuple | None


def _values(given: Given, what: str) -> dict[str, float]:
    if given is None:
        return {}
    if isinstance(given, str):
        return parse(given, what)
    if isinstance(given, Mapping):
        return dict(given)
    if isinstance(given, list | tuple):
        out: dict[str, float] = {}
        for part in given:
            out.update(_values(part, what))
        return out
    raise UsageError(f"{what} is policy name -> value (e.g. {{'fp32': 1e-4}}) or 'fp32=1e-4', "
                     f"got {type(given).__name__} {given!r:.40}")


def parse(text: str, what: str) -> dict[str, float]:
    """`fp32=1e-4,fp16=2e-2` -> {"fp32": 1e-4, "fp16": 2e-2}; a UsageError naming the part it cannot read."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"{what} is policy=value (e.g. fp32=1e-4; policies: {', '.join(POLICIES)}), got {part!r}")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"{what} for policy {name.strip()!r} must be a number, got {value!r}") from None
        out[name.strip()] = number
    if not out:
        raise UsageError(f"{what} names no policy: write policy=value, e.g. fp32=1e-4")
    Overrides(**{what: out})  # names and values checked here, whatever the caller
    return out


#: Precision or bug (`harness.parity.expectation`): a case is beyond precision when its deviation passes
#: this many times its spread (how far rounding alone moves it), per precision.
#: Measured with `parity --explain --n 200` on trendsplit, trendsplit-v2, zoo-conv1d-bn, zoo-transformer and
#: zoo-depthwise (128 cases each): the emulator's fp16 profiles reach at most 2.5x (the `fp16` profile,
#: whose fp16 sums the random rounding of each op's result does not randomise) and fp32 pairs at most 2.9x
#: (onnxruntime, whose kernels sum in another order). A weight changed by 1% lands past 100x.
PRECISION_FACTOR = {"fp16": 6.0, "fp32": 8.0}
