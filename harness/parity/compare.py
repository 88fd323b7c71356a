"""Compare a candidate backend's outputs with a reference's, numerically and by decision.

Knows nothing of where the outputs came from. The result's truthiness is pass/fail under the policy
it was judged by, or, where the pair was set against float64 (`expectation`: precision or bug), with its
numbers judged by that: the policy's own atol/rtol are then the fallback. It serialises to JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from harness.parity.tolerances import Policy, shipped
from harness.records import PrecisionClass

MAX_LISTED = 20
#: Cases outside the numeric allowance named per comparison: a class set against float64 judges the
#: numbers only when it estimated every one of them (`harness.parity.expectation` estimates these first).
MAX_VIOLATING_LISTED = 128
#: Fixed histogram edges (ten bins a decade), so that histograms of chunks of cases add up:
#: absolute errors from 1e-12 (0 counts there) to 1e6, float32 ULPs from 0.5 (0 counts there)
#: to 2^33 (the largest distance between two finite float32s is under 2^32).
ABS_EDGES = np.geomspace(1e-12, 1e6, 181)
ULP_EDGES = np.geomspace(0.5, 2.0**33, 104)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Units in the last place of float32 between a and b (int64; signed zeros are 0 apart)."""
    def ordered(v):
        i = np.ascontiguousarray(v, dtype=np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)

    return np.abs(ordered(a) - ordered(b))


@dataclass(frozen=True)
class Flip:
    """One decision the two sides made differently."""

    case: int
    position: int
    reference: float
    candidate: float

    def to_dict(self) -> dict:
        return {"case": self.case, "position": self.position,
                "reference": self.reference, "candidate": self.candidate}


@dataclass(frozen=True)
class Spread:
    """Would one output, the same for every case, have passed? Then the reference does not vary
    with its inputs beyond what the policy allows, a candidate that ignored its inputs would pass,
    and the comparison tested nothing.

    Kept per output position so that chunks of cases merge: for the numbers, the intersection of
    the cases' allowed intervals [r - a, r + a] (`low`, the largest r - a; `high`, the smallest
    r + a): one value passes every case where low <= high everywhere. For the decisions, how many
    judged cases took each decision at each position: one constant decision agrees with the most
    common one. Read back from a file, the two answers are kept without the arrays.
    """

    cases: int
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    decisions: np.ndarray | None = None  # positions x choices: judged cases that took each decision
    saved_numbers_constant: bool = True
    saved_decision_agreement: float = 1.0

    @property
    def numbers_constant(self) -> bool:
        """One value per position would be within the allowance of every case."""
        if self.low is None:
            return self.saved_numbers_constant
        return bool(np.all(self.low <= self.high))

    @property
    def constant_decision_agreement(self) -> float:
        """The share of judged decisions that one decision per position, the same for every case, gets right."""
        if self.decisions is None:
            return self.saved_decision_agreement
        total = int(self.decisions.sum())
        return float(self.decisions.max(axis=-1).sum() / total) if total else 1.0

    def merge(self, later: Spread) -> Spread:
        return Spread(
            self.cases + later.cases,
            None if self.low is None else np.maximum(self.low, later.low),
            None if self.high is None else np.minimum(self.high, later.high),
            None if self.decisions is None else self.decisions + later.decisions,
            self.numbers_constant and later.numbers_constant,
            min(self.constant_decision_agreement, later.constant_decision_agreement))

    def to_dict(self) -> dict:
        return {"cases": self.cases, "numbers_constant": self.numbers_constant,
                "constant_decision_agreement": self.constant_decision_agreement}

    @classmethod
    def from_dict(cls, d: dict) -> Spread:
        """What `to_dict` wrote; TypeError naming the field when it is not (a string "false" is not False)."""
        cases, constant, agreement = d["cases"], d["numbers_constant"], d["constant_decision_agreement"]
        if type(cases) is not int or cases < 0 or type(constant) is not bool or type(agreement) not in (int, float) \
                or not 0 <= agreement <= 1:
            raise TypeError(f"spread {d!r:.80} is not cases (a count), numbers_constant (true or false) and "
                            "constant_decision_agreement (0 to 1)")
        return cls(cases, saved_numbers_constant=constant, saved_decision_agreement=float(agreement))

    @classmethod
    def of(cls, r64: np.ndarray, allowance: np.ndarray, ref_dec: np.ndarray, judged: np.ndarray,
           decision: str) -> Spread:
        """The spread of one batch of cases (batch first): `allowance` per element, the reference's
        decisions and where they are judged."""
        finite = np.isfinite(r64)
        with np.errstate(invalid="ignore"):
            low = np.where(finite, r64 - allowance, -np.inf).max(axis=0, initial=-np.inf)
            high = np.where(finite, r64 + allowance, np.inf).min(axis=0, initial=np.inf)
        counts = None
        if decision != "none":
            choices = r64.shape[-1] if decision == "argmax" else 2
            positions = int(np.prod(judged.shape[1:], dtype=np.int64))
            slot = np.arange(positions).reshape(judged.shape[1:]) * choices + ref_dec.astype(np.int64)
            counts = np.bincount(slot[judged], minlength=positions * choices)
            counts = counts.reshape(positions, choices)
        return cls(len(r64), low, high, counts)


@dataclass(frozen=True)
class Comparison:
    reference: str
    candidate: str
    policy: Policy
    elements: int
    non_finite: int  # candidate outputs that are NaN or infinite
    max_abs: float
    mean_abs: float
    max_rel: float  # |c - r| / max(|r|, atol): relative where it means something
    max_ulp: int  # float32 ULPs, over outputs with |r| >= atol (below it ULPs are meaningless)
    worst: tuple[int, ...]  # index of the largest absolute error
    worst_reference: float
    worst_candidate: float
    numeric_violations: int  # elements outside atol * scale + rtol*|r|
    max_input_scale: float  # largest per-case allowance multiplier used (1.0 when unscaled)
    decisions_compared: int  # decisions with the reference further than the margin
    decisions_agreeing: int
    near_threshold: int  # decisions within the margin: counted, not judged
    near_threshold_flips: int
    flips: tuple[Flip, ...]  # first MAX_LISTED judged disagreements
    near_flips: tuple[Flip, ...]  # first MAX_LISTED near-threshold disagreements
    abs_histogram: np.ndarray = field(repr=False, compare=False)  # counts over ABS_EDGES (empty when read back)
    ulp_histogram: np.ndarray = field(repr=False, compare=False)  # counts over ULP_EDGES
    output: str = ""  # which output, for models with several
    decision: str = "threshold"  # the app's rule for this output ("none": numbers only)
    max_reference: float = 1.0  # largest finite |reference|: is there anything to compare?
    max_allowance: float = 0.0  # the largest per-element allowance atol * scale + rtol*|r| that judged numbers
    reference_non_finite: int = 0  # reference outputs that are NaN or infinite: nothing is judged against them
    spread: Spread = field(default=None, compare=False)  # would one output for every case have passed?
    call: int = 0  # a stateful model's call of each case's sequence (1 is the first); 0: every call, or stateless
    violating_cases: int = 0  # cases with an element outside the allowance
    violation_cases: tuple[int, ...] = ()  # the first MAX_VIOLATING_LISTED of them
    #: The pair set against float64 and its precision's spread (`expectation`), attached by the report that
    #: holds both: where it is, it judges the numbers (see `numbers_by`).
    expectation: PrecisionClass | None = field(default=None, compare=False, repr=False)

    @property
    def decision_agreement(self) -> float:
        return (self.decisions_agreeing / self.decisions_compared
                if self.decisions_compared else 1.0)

    @property
    def finite(self) -> bool:
        """NaN or infinity on either side fails under every policy: nothing about it is a tolerance."""
        return self.non_finite == 0 and self.reference_non_finite == 0

    @property
    def numeric_ok(self) -> bool:
        return self.finite and self.numeric_violations == 0

    @property
    def decisions_ok(self) -> bool:
        return self.decision_agreement >= self.policy.min_decision_agreement

    @property
    def judges_numbers(self) -> bool:
        """Numbers are judged under the policy, and always where the app makes no decision."""
        return self.policy.judge_numeric or self.decision == "none"

    @property
    def numbers_by(self) -> str:
        """What judges the numbers: "float64" (the pair set against float64 and its precision's Monte Carlo
        spread, the primary authority), "policy" (the policy's atol/rtol: the fallback) or "" (not judged).

        The expectation judges when it found the pair beyond precision (a defect, whatever the tolerance
        let through), or within it on every case the allowance refused, unless the tolerances are the
        user's (an override or a policy of their own: their choice stands). Else the policy's atol/rtol do."""
        e = self.expectation
        if e is not None and (not e.within or (self._expectation_covers and shipped(self.policy))):
            return "float64"
        return "policy" if self.judges_numbers else ""

    @property
    def _expectation_covers(self) -> bool:
        """The expectation estimated every case outside the allowance (all of them listed, all estimated)."""
        e = self.expectation
        return (e is not None and self.violating_cases == len(self.violation_cases)
                and set(self.violation_cases) <= set(e.cases))

    @property
    def judged(self) -> str:
        """What the verdict rests on, for the table."""
        by = self.numbers_by
        parts = ([{"float64": "float64", "policy": "numbers"}[by]] if by else []) \
            + (["decisions"] if self.decision != "none" else [])
        return "+".join(parts)

    @property
    def inconclusive(self) -> str:
        """Why this comparison proves nothing (empty when it does): a pass here would be vacuous."""
        if self.elements == 0:
            return "no output values to compare"
        if self.max_reference <= self.policy.atol:
            return (f"every reference value is within atol ({self.policy.atol:g}) of zero: give the model "
                    "inputs and weights that make its outputs non-degenerate")
        if not self.judges_numbers and self.decisions_compared == 0:
            return (f"no decision is further than the margin ({self.policy.decision_margin:g}) from the "
                    "threshold, and this policy judges decisions: check the threshold and the inputs")
        return self._input_independent()

    def _input_independent(self) -> str:
        """Why a candidate that ignored its inputs would pass here, or "" when it would not."""
        s = self.spread
        if s is None:
            return ""
        if s.cases < 2:
            return "one case cannot show that the outputs depend on the inputs: compare at least 2 cases"
        numbers = not self.judges_numbers or s.numbers_constant
        decisions = self.decision == "none" or s.constant_decision_agreement >= self.policy.min_decision_agreement
        if not (numbers and decisions):
            return ""
        what = " and ".join((["values"] if self.judges_numbers else [])
                            + (["decisions"] if self.decision != "none" else []))
        return (f"the outputs do not vary with the inputs: one output for all {s.cases:,} cases would match "
                f"the reference's {what} within the policy, so nothing was tested (untrained or collapsed "
                "weights, or inputs the model ignores)")

    @property
    def failures(self) -> tuple[str, ...]:
        """Why this pair fails, in the words the table shows (empty when it holds): the verdict rests on these."""
        by = self.numbers_by
        return tuple(word for word, bad in (
            ("non-finite", not self.finite),
            ("beyond-precision", by == "float64" and not self.expectation.within),
            ("numeric", by == "policy" and not self.numeric_ok),
            ("decisions", not self.decisions_ok)) if bad)

    @property
    def verdict(self) -> str:
        """"fail", "inconclusive" or "pass"."""
        if self.failures:
            return "fail"
        return "inconclusive" if self.inconclusive else "pass"

    def __bool__(self) -> bool:
        return self.verdict == "pass"

    @property
    def pair(self) -> str:
        return pair_name(self.candidate, self.reference, self.output, self.call)

    def to_dict(self) -> dict:
        return {
            "reference": self.reference, "candidate": self.candidate, "output": self.output, "call": self.call,
            "passed": bool(self), "verdict": self.verdict, "inconclusive": self.inconclusive,
            "judged": self.judged, "decision": self.decision, "max_reference": self.max_reference,
            "reference_non_finite": self.reference_non_finite, "max_allowance": self.max_allowance,
            "spread": self.spread.to_dict() if self.spread is not None else None,
            "numeric_ok": self.numeric_ok,
            "decisions_ok": self.decisions_ok, "policy": self.policy.to_dict(),
            "elements": self.elements, "non_finite": self.non_finite,
            "max_abs": self.max_abs, "mean_abs": self.mean_abs, "max_rel": self.max_rel,
            "max_ulp": self.max_ulp, "worst": list(self.worst),
            "worst_reference": self.worst_reference, "worst_candidate": self.worst_candidate,
            "numeric_violations": self.numeric_violations,
            "violating_cases": self.violating_cases, "violation_cases": list(self.violation_cases),
            "max_input_scale": self.max_input_scale,
            "decisions_compared": self.decisions_compared,
            "decisions_agreeing": self.decisions_agreeing,
            "decision_agreement": self.decision_agreement,
            "near_threshold": self.near_threshold,
            "near_threshold_flips": self.near_threshold_flips,
            "flips": [f.to_dict() for f in self.flips],
            "near_flips": [f.to_dict() for f in self.near_flips],
        }


def pair_name(candidate: str, reference: str, output: str = "", call: int = 0) -> str:
    """`candidate vs reference [output, call k]`: how every face names one judged pair."""
    where = ", ".join(filter(None, (output, f"call {call}" if call else "")))
    return f"{candidate} vs {reference}" + (f" [{where}]" if where else "")


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts over fixed `edges`, values outside them counted in the first or last bin."""
    v = np.clip(np.asarray(values, dtype=np.float64).ravel(), edges[0], edges[-1])
    return np.histogram(v, edges)[0]


def _worst_in_later(a: Comparison, b: Comparison) -> bool:
    """Whether the largest error of `a`'s cases then `b`'s lies in `b` (its first occurrence, as argmax finds it)."""
    return bool(b.worst) and (not a.worst or b.max_abs > a.max_abs)


def merge(a: Comparison, b: Comparison, offset: int) -> Comparison:
    """One comparison of two runs of cases, `b`'s cases numbered from `offset`: what comparing
    them in one go would give (the mean up to float rounding), without holding either's outputs."""
    def shifted(flips):
        return tuple(dataclasses.replace(f, case=f.case + offset) for f in flips)

    later = _worst_in_later(a, b)
    elements = a.elements + b.elements
    return dataclasses.replace(
        a, elements=elements, non_finite=a.non_finite + b.non_finite,
        max_abs=max(a.max_abs, b.max_abs),
        mean_abs=(a.mean_abs * a.elements + b.mean_abs * b.elements) / elements if elements else 0.0,
        max_rel=max(a.max_rel, b.max_rel), max_ulp=max(a.max_ulp, b.max_ulp),
        worst=(b.worst[0] + offset, *b.worst[1:]) if later else a.worst,
        worst_reference=b.worst_reference if later else a.worst_reference,
        worst_candidate=b.worst_candidate if later else a.worst_candidate,
        numeric_violations=a.numeric_violations + b.numeric_violations,
        violating_cases=a.violating_cases + b.violating_cases,
        violation_cases=(a.violation_cases + tuple(k + offset for k in b.violation_cases))[:MAX_VIOLATING_LISTED],
        max_input_scale=max(a.max_input_scale, b.max_input_scale),
        decisions_compared=a.decisions_compared + b.decisions_compared,
        decisions_agreeing=a.decisions_agreeing + b.decisions_agreeing,
        near_threshold=a.near_threshold + b.near_threshold,
        near_threshold_flips=a.near_threshold_flips + b.near_threshold_flips,
        flips=(a.flips + shifted(b.flips))[:MAX_LISTED],
        near_flips=(a.near_flips + shifted(b.near_flips))[:MAX_LISTED],
        abs_histogram=a.abs_histogram + b.abs_histogram, ulp_histogram=a.ulp_histogram + b.ulp_histogram,
        max_reference=max(a.max_reference, b.max_reference),
        reference_non_finite=a.reference_non_finite + b.reference_non_finite,
        max_allowance=max(a.max_allowance, b.max_allowance),
        spread=a.spread.merge(b.spread) if a.spread is not None and b.spread is not None else None)


def _flips(where: np.ndarray, ref: np.ndarray, cand: np.ndarray) -> tuple[Flip, ...]:
    """The first flips, each at its case and its position in the case's decisions flattened (a (T, C) output's
    token t, channel c is t * C + c)."""
    idx = np.argwhere(where)[:MAX_LISTED]
    return tuple(Flip(int(i[0]), int(np.ravel_multi_index(tuple(i[1:]), where.shape[1:])) if len(i) > 1 else 0,
                      float(ref[tuple(i)]), float(cand[tuple(i)])) for i in idx)


def _decisions(r64: np.ndarray, c64: np.ndarray, decision: str, threshold: float, mask):
    """(reference decisions, candidate decisions, reference confidence, mask) for a decision rule."""
    if decision == "threshold":
        full = np.ones(r64.shape, bool) if mask is None else np.asarray(mask, bool)
        return r64 > threshold, c64 > threshold, np.abs(r64 - threshold), full
    if decision == "argmax":
        top = np.sort(r64, axis=-1)
        confidence = top[..., -1] - top[..., -2] if r64.shape[-1] > 1 else np.full(r64.shape[:-1], np.inf)
        full = np.ones(r64.shape[:-1], bool)
        return r64.argmax(-1), c64.argmax(-1), confidence, full
    if decision == "none":
        empty = np.zeros(r64.shape, bool)
        return empty, empty, np.zeros(r64.shape), empty
    raise ValueError(f"unknown decision rule {decision!r}; known: threshold, argmax, none")


def _scale(inputs, reference: np.ndarray, activations: np.ndarray | None) -> np.ndarray:
    """Per case max(1, the magnitude the model's layers saw, max|reference output|), broadcast to the
    output's shape.

    Rounding in a sum is relative to its summands (a logit of 0.5 beside one of 85 carries the
    85's rounding). `activations` is that magnitude as the torch reference measured it, after the
    model's own clamps; without it (a reference from a file of another backend) the raw inputs
    stand in, which over-allows a model that clamps or normalises them. Non-finite values do not count.
    """
    finite = np.where(np.isfinite(reference), np.abs(reference), 0.0).reshape(len(reference), -1).max(axis=1)
    if activations is not None:
        seen = [np.asarray(activations, dtype=np.float64).reshape(len(reference))]
    else:
        arrays = list(inputs.values()) if isinstance(inputs, dict) else ([] if inputs is None else [inputs])
        seen = [np.abs(np.asarray(a, dtype=np.float64)).reshape(len(a), -1).max(axis=1) for a in arrays]
    per_case = np.max([finite, *(np.where(np.isfinite(v), v, 0.0) for v in seen)], axis=0)
    shape = reference.shape
    return np.maximum(1.0, per_case).reshape((-1,) + (1,) * (len(shape) - 1)) * np.ones(shape)


def compare(reference: np.ndarray, candidate: np.ndarray, *, policy: Policy, threshold: float = 0.5,
            decision_mask: np.ndarray | None = None, inputs=None, activations: np.ndarray | None = None,
            decision: str = "threshold",
            reference_name: str = "reference", candidate_name: str = "candidate",
            output: str = "") -> Comparison:
    """Judge `candidate` against `reference` (same shape, float32) under `policy`.

    `decision` is how an app reads the output: "threshold" (`p > threshold`, only where
    `decision_mask` is set), "argmax" (the class on the last axis; judged where the
    reference's top two differ by more than the margin) or "none". `inputs` (an array or
    name -> array, batch first) sets each case's allowance scale when the policy is input-scaled,
    unless `activations` (per case, from the torch reference) says what the model's layers saw.
    """
    ref = np.asarray(reference, dtype=np.float32)
    cand = np.asarray(candidate, dtype=np.float32)
    if ref.shape != cand.shape:
        raise ValueError(f"wrong shape: {candidate_name} gave {list(cand.shape)}, "
                         f"{reference_name} gave {list(ref.shape)}")
    r64, c64 = ref.astype(np.float64), cand.astype(np.float64)
    scale = np.ones(ref.shape)
    if policy.input_scaled and ref.size and ref.ndim:
        scale = _scale(inputs, r64, activations)
    with np.errstate(invalid="ignore"):
        err = np.abs(c64 - r64)
        err_finite = np.where(np.isfinite(err), err, np.inf)
        rel = err_finite / np.maximum(np.abs(r64), policy.atol)
        allowance = policy.atol * scale + policy.rtol * np.abs(r64)  # rtol is relative already: not scaled again
        violations = ~(err_finite <= allowance)
    worst = np.unravel_index(int(np.argmax(err_finite)), ref.shape) if ref.size else ()
    violating = np.flatnonzero(violations.reshape(len(ref), -1).any(axis=1)) if ref.ndim else np.zeros(0, np.int64)
    ulp = np.where(np.abs(r64) >= policy.atol, ulp_distance(ref, cand), 0)

    ref_dec, cand_dec, confidence, mask = _decisions(r64, c64, decision, threshold, decision_mask)
    far = confidence > policy.decision_margin
    judged, near = mask & far, mask & ~far
    differ = ref_dec != cand_dec
    flip_ref, flip_cand = (ref, cand) if decision != "argmax" else (ref_dec, cand_dec)
    return Comparison(
        reference=reference_name, candidate=candidate_name, policy=policy,
        elements=int(ref.size), non_finite=int((~np.isfinite(cand)).sum()),
        max_abs=float(err_finite.max()) if ref.size else 0.0,
        mean_abs=float(err_finite.mean()) if ref.size else 0.0,
        max_rel=float(rel.max()) if ref.size else 0.0,
        max_ulp=int(ulp.max()) if ref.size else 0,
        worst=tuple(int(i) for i in worst),
        worst_reference=float(ref[worst]) if ref.size else 0.0,
        worst_candidate=float(cand[worst]) if ref.size else 0.0,
        numeric_violations=int(violations.sum()),
        violating_cases=len(violating),
        violation_cases=tuple(int(k) for k in violating[:MAX_VIOLATING_LISTED]),
        max_input_scale=float(scale.max()) if ref.size else 1.0,
        decisions_compared=int(judged.sum()),
        decisions_agreeing=int((judged & ~differ).sum()),
        near_threshold=int(near.sum()),
        near_threshold_flips=int((near & differ).sum()),
        flips=_flips(judged & differ, flip_ref, flip_cand),
        near_flips=_flips(near & differ, flip_ref, flip_cand),
        abs_histogram=_histogram(err_finite[np.isfinite(err_finite)], ABS_EDGES),
        ulp_histogram=_histogram(ulp, ULP_EDGES),
        output=output,
        decision=decision,
        max_reference=float(np.max(np.abs(r64[np.isfinite(r64)]), initial=0.0)),
        reference_non_finite=int((~np.isfinite(ref)).sum()),
        max_allowance=float(np.max(np.where(np.isfinite(allowance), allowance, 0.0), initial=0.0)),
        spread=Spread.of(r64, allowance, ref_dec, judged, decision) if ref.ndim else None,
    )
