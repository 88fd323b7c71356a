"""Records that travel in files and are read where torch is not installed: numpy only.

A results file from a phone is judged on any machine (`harness.results`); what it needs to be
read must not import torch, coremltools or onnxruntime (tests/test_records_without_torch.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.parity.tolerances import OP_REL_LIMIT


@dataclass(frozen=True)
class Cases:
    """A seeded batch of model inputs, with what produced each one (for reports and replay)."""

    feeds: dict[str, np.ndarray]  # input name -> batch, shaped and typed as the input spec
    decision_mask: np.ndarray | None  # bool, shaped as the decision output: what an app reads
    kinds: tuple[str, ...]  # generator that made each case, e.g. "realistic", "epoch_seconds"
    raw: tuple  # what the app had before encoding (e.g. the [n, 2] points); may be empty
    seed: int

    @property
    def inputs(self) -> np.ndarray:
        """The batch of a single-input model."""
        if len(self.feeds) != 1:
            raise ValueError(f"these cases feed {len(self.feeds)} inputs ({', '.join(self.feeds)}); use .feeds")
        return next(iter(self.feeds.values()))

    def __len__(self) -> int:
        return len(next(iter(self.feeds.values())))

    def take(self, index) -> dict[str, np.ndarray]:
        """The feeds of a subset of cases."""
        return {k: v[index] for k, v in self.feeds.items()}


# -- an export's static check (harness.coreml_artifact) ------------------------------------------

@dataclass(frozen=True)
class Finding:
    rule: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class ArtifactCheck:
    artifact: str
    precision: str
    findings: tuple[Finding, ...]
    compute_dtypes: dict[str, int]  # dtype -> number of compute-op outputs of that dtype
    target: str = ""  # the deployment target the program's opset names (`iOS17`); "" in files written before it

    def __bool__(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def to_dict(self) -> dict:
        return {"artifact": self.artifact, "precision": self.precision, "target": self.target, "passed": bool(self),
                "compute_dtypes": self.compute_dtypes,
                "findings": [f.to_dict() for f in self.findings]}


# -- where an emulated program first diverges (harness.mil.localize) -------------------------------

@dataclass(frozen=True)
class OpDivergence:
    name: str
    op_type: str
    max_abs: float
    rel: float  # max_abs / max|reference|
    overflow: int  # values finite in the reference, not in the candidate
    reference_max: float
    rel_limit: float = OP_REL_LIMIT
    module: str = ""  # the torch module that made it, e.g. "body.3 (Conv1d)"; "" when unknown

    @property
    def diverged(self) -> bool:
        return self.overflow > 0 or self.rel > self.rel_limit

    @property
    def title(self) -> str:
        """`var_8_cast_fp16 (mul) in body.3 (Conv1d)`: the MIL name, its op, and its torch module."""
        return f"{self.name} ({self.op_type})" + (f" in {self.module}" if self.module else "")

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op_type, "module": self.module, "max_abs": self.max_abs,
                "rel": self.rel, "overflow": self.overflow, "reference_max": self.reference_max,
                "diverged": self.diverged}


@dataclass(frozen=True)
class Localization:
    reference: str
    candidate: str
    ops: tuple[OpDivergence, ...]
    rel_limit: float = OP_REL_LIMIT
    cases: tuple[int, ...] = ()  # which cases were run, when known (indices into the run's cases)

    @property
    def first(self) -> OpDivergence | None:
        return next((o for o in self.ops if o.diverged), None)

    def __bool__(self) -> bool:  # truthy = no op diverged
        return self.first is None

    def summary(self) -> str:
        """One line: the first op past the per-op limit and why, on how many cases."""
        first = self.first
        on = f" (on {len(self.cases)} cases)" if self.cases else ""
        if first is None:
            return (f"no single op diverges beyond the per-op limit ({self.rel_limit:.0%} relative, or an "
                    f"overflow){on}: the error accumulates")
        why = (f"{first.overflow} values overflow float16" if first.overflow
               else f"relative divergence {first.rel:.2e}")
        return f"first divergent op {first.title}: {why}{on}"

    def render(self, rows: int = 40) -> str:
        first = self.first
        head = (f"first divergent op: {first.title}: "
                + (f"{first.overflow} values overflow" if first.overflow else f"relative {first.rel:.2e}")
                if first else "no op diverges beyond the per-op policy")
        modules = any(o.module for o in self.ops)
        lines = [f"{self.candidate} vs {self.reference}: {head}", "",
                 f"{'value':40s} {'op':22s} " + (f"{'torch module':28s} " if modules else "")
                 + f"{'max abs':>10s} {'rel':>10s} {'overflow':>8s}"]
        for o in self.ops[:rows]:
            mark = "  <-- first" if o is first else ""
            module = f"{o.module[:28]:28s} " if modules else ""
            lines.append(f"{o.name[:40]:40s} {o.op_type:22s} {module}{o.max_abs:10.2e} {o.rel:10.2e} "
                         f"{o.overflow:8d}{mark}")
        if len(self.ops) > rows:
            lines.append(f"... {len(self.ops) - rows} more ops")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "candidate": self.candidate, "rel_limit": self.rel_limit,
                "cases": list(self.cases), "first": self.first.to_dict() if self.first else None,
                "ops": [o.to_dict() for o in self.ops]}

    @classmethod
    def from_dict(cls, doc: dict) -> Localization:
        """What `to_dict` wrote (KeyError/TypeError/ValueError when it is not that: the caller names the file)."""
        limit = float(doc["rel_limit"])
        ops = tuple(OpDivergence(str(o["name"]), str(o["op"]), float(o["max_abs"]), float(o["rel"]),
                                 int(o["overflow"]), float(o["reference_max"]), limit, str(o["module"]))
                    for o in doc["ops"])
        return cls(str(doc["reference"]), str(doc["candidate"]), ops, limit, tuple(int(k) for k in doc["cases"]))


# -- precision or bug: a pair against what its precision alone produces (harness.parity.expectation) --

@dataclass(frozen=True)
class ModuleStep:
    """One torch module's output against float64, in execution order: where a pair beyond precision starts."""

    title: str  # e.g. "body.3 (Conv1d)"
    deviation: float  # the largest |candidate - float64| over the cases
    spread: float  # the largest spread rounding gives there
    ratio: float  # the largest per-case deviation / spread
    overflow: bool  # NaN or infinite where float64 is finite

    def to_dict(self) -> dict:
        return {"title": self.title, "deviation": self.deviation, "spread": self.spread, "ratio": self.ratio,
                "overflow": self.overflow}


@dataclass(frozen=True)
class FlipCause:
    """One flipped decision, against the spread its precision produces on that case."""

    case: int
    position: int  # index into the case's decided output, flattened
    margin: float  # |float64 reference - threshold|
    spread: float  # how far rounding alone moves this position (the Monte Carlo runs around their mean)
    samples_across: int  # Monte Carlo runs that decide this position otherwise than the runs' mean (rounding)
    overflow: bool = False  # the candidate's value is NaN or infinite: a range defect, never rounding

    @property
    def expected(self) -> bool:
        """Rounding can flip it: it moved a Monte Carlo run's decision off the runs' own, or the reference's margin
        is within the spread (never an overflow)."""
        return not self.overflow and (self.samples_across > 0 or self.margin <= self.spread)

    def to_dict(self) -> dict:
        return {"case": self.case, "position": self.position, "margin": self.margin, "spread": self.spread,
                "samples_across": self.samples_across, "overflow": self.overflow, "expected": self.expected}


@dataclass(frozen=True)
class PrecisionClass:
    """Whether a pair's deviation is its precision's nature or a defect, measured against float64.

    Per case, the candidate's largest distance from the float64 reference is set against how far rounding
    alone moves the result: `samples` Monte Carlo runs of its precision around their own mean, with the
    float32 reference's own rounding noise as a floor. Past `factor` times that on any case, the deviation
    is *beyond precision* (a conversion, runtime or emulator defect, not rounding)."""

    pair: str
    output: str
    precision: str  # the candidate's: "fp16" or "fp32"
    method: str  # how the spread was made, e.g. "8 Monte Carlo runs of the fp16 program (fp16-storage)"
    samples: int
    cases: tuple[int, ...]  # the cases estimated (flips, near flips, worst cases, then the first ones)
    beyond_cases: tuple[int, ...]  # those whose deviation is past `factor` x the spread
    worst_case: int
    worst_ratio: float  # deviation / spread on the worst case
    deviation: float  # the largest |candidate - float64|
    spread: float  # the largest distance rounding alone moves it (Monte Carlo runs around their mean)
    reference_noise: float  # the largest |float32 reference - float64|
    factor: float
    flips: tuple[FlipCause, ...] = ()
    overflow_cases: tuple[int, ...] = ()  # cases where it is NaN or infinite and float64 is not
    starts_at: str = ""  # beyond precision: the first torch module past its spread, e.g. "body.0 (Conv1d)"
    modules: tuple[ModuleStep, ...] = ()  # beyond precision: every module mapped, in execution order
    overflow_start: bool = False  # `starts_at` names an op of the program whose values overflow (no module did)

    @property
    def within(self) -> bool:
        return not self.beyond_cases

    @property
    def label(self) -> str:
        return f"within {self.precision} precision" if self.within else f"BEYOND {self.precision} precision"

    @property
    def starts_with_overflow(self) -> bool:
        """The module where it starts overflows: a range defect, even where the outputs stay finite."""
        first = self.first_module
        return self.overflow_start or (first is not None and first.overflow)

    @property
    def first_module(self) -> ModuleStep | None:
        """The first module past its spread (`starts_at` may name modules before it that map to no value)."""
        return next((m for m in self.modules if m.overflow or m.ratio > self.factor), None)

    def summary(self) -> str:
        """One line: the class, the figures it rests on, and what the flips are."""
        on = f"{len(self.cases)} cases, {self.method}"
        if self.within:
            text = (f"{self.label}: deviation from float64 at most {self.worst_ratio:.2g}x the spread its precision "
                    f"gives ({on})")
        elif self.overflow_cases:
            text = (f"{self.label}: values past {self.precision}'s range (NaN or infinite where float64 is finite) "
                    f"on {len(self.overflow_cases)} of {len(self.cases)} cases (case {self.overflow_cases[0]}; {on}): "
                    "an overflow, not rounding: keep the op that overflows in fp32 (python -m harness advise)")
            text += f"; it starts at {self.starts_at}" if self.starts_at else ""
        elif self.starts_with_overflow:  # the outputs stay finite (a sigmoid, a clamp after it), the module did not
            text = (f"{self.label} on {len(self.beyond_cases)} of {len(self.cases)} cases (case {self.worst_case}: "
                    f"{self.worst_ratio:.3g}x the spread its precision gives; {on}): an overflow inside the model at "
                    f"{self.first_module.title if self.first_module else self.starts_at}, whose values pass "
                    f"{self.precision}'s range where float64's are finite, not "
                    "rounding: keep the op that overflows in fp32 (python -m harness advise)")
        else:
            text = (f"{self.label} on {len(self.beyond_cases)} of {len(self.cases)} cases (case {self.worst_case}: "
                    f"{self.worst_ratio:.3g}x the spread its precision gives; {on}): not rounding, suspect the "
                    "conversion, the runtime or the emulator")
            text += f"; it starts at {self.starts_at}" if self.starts_at else ""
        expected = sum(f.expected for f in self.flips)
        overflowed = sum(f.overflow for f in self.flips)
        unexplained = len(self.flips) - expected - overflowed
        if self.flips:
            text += f"; of {len(self.flips)} flips estimated, {expected} expected at this precision" + (
                f", {overflowed} overflows" if overflowed else "") + (
                f", {unexplained} not (reference margin past the spread rounding reaches)" if unexplained else "")
        return text

    def to_dict(self) -> dict:
        return {"pair": self.pair, "output": self.output, "precision": self.precision, "method": self.method,
                "samples": self.samples, "cases": list(self.cases), "beyond_cases": list(self.beyond_cases),
                "worst_case": self.worst_case, "worst_ratio": self.worst_ratio, "deviation": self.deviation,
                "spread": self.spread, "reference_noise": self.reference_noise, "factor": self.factor,
                "within": self.within, "flips": [f.to_dict() for f in self.flips],
                "overflow_cases": list(self.overflow_cases), "starts_at": self.starts_at,
                "modules": [m.to_dict() for m in self.modules], "overflow_start": self.overflow_start}

    @classmethod
    def from_dict(cls, d: dict) -> PrecisionClass:
        """What `to_dict` wrote (KeyError/TypeError/ValueError otherwise: the caller names the file)."""
        def whole(v) -> int:
            if type(v) is not int or v < 0:
                raise ValueError(f"not a count: {v!r}")
            return v

        def number(v) -> float:
            if type(v) not in (int, float):
                raise ValueError(f"not a number: {v!r}")
            return float(v)

        def flag(v) -> bool:
            if type(v) is not bool:
                raise ValueError(f"not true or false: {v!r}")
            return v

        flips = tuple(FlipCause(whole(f["case"]), whole(f["position"]), number(f["margin"]), number(f["spread"]),
                                whole(f["samples_across"]), flag(f["overflow"])) for f in d["flips"])
        made = cls(str(d["pair"]), str(d["output"]), str(d["precision"]), str(d["method"]), whole(d["samples"]),
                   tuple(whole(c) for c in d["cases"]), tuple(whole(c) for c in d["beyond_cases"]),
                   whole(d["worst_case"]), number(d["worst_ratio"]), number(d["deviation"]), number(d["spread"]),
                   number(d["reference_noise"]), number(d["factor"]), flips,
                   tuple(whole(c) for c in d["overflow_cases"]), str(d["starts_at"]),
                   tuple(ModuleStep(str(m["title"]), number(m["deviation"]), number(m["spread"]), number(m["ratio"]),
                                    flag(m["overflow"])) for m in d.get("modules", [])),
                   overflow_start=flag(d.get("overflow_start", False)))
        if (not set(made.beyond_cases) <= set(made.cases) or not set(made.overflow_cases) <= set(made.beyond_cases)
                or d["within"] is not made.within):
            raise ValueError("its beyond cases and its class contradict each other")
        return made
