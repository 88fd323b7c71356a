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
