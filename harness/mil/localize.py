"""Find where two runs of the same program part ways: the first op whose outputs diverge.

Runs one program under two profiles (by default the fp32 profile as reference and an fp16
one as candidate), so every intermediate value has the same name on both sides, and
judges each op's output by a per-op policy: relative divergence above `rel_limit`
(default 1%, about 20 float16 half-ULPs: more than one op's storage rounding and
accumulation explain), or any value that is finite in the reference and infinite or NaN
in the candidate (an overflow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.mil.interpreter import Interpreter
from harness.mil.profiles import get_profile
from harness.mil.program import Program

REL_LIMIT = 0.01


@dataclass(frozen=True)
class OpDivergence:
    name: str
    op_type: str
    max_abs: float
    rel: float  # max_abs / max|reference|
    overflow: int  # values finite in the reference, not in the candidate
    reference_max: float

    @property
    def diverged(self) -> bool:
        return self.overflow > 0 or self.rel > REL_LIMIT

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op_type, "max_abs": self.max_abs, "rel": self.rel,
                "overflow": self.overflow, "reference_max": self.reference_max,
                "diverged": self.diverged}


@dataclass(frozen=True)
class Localization:
    reference: str
    candidate: str
    ops: tuple[OpDivergence, ...]

    @property
    def first(self) -> OpDivergence | None:
        return next((o for o in self.ops if o.diverged), None)

    def __bool__(self) -> bool:  # truthy = no op diverged
        return self.first is None

    def render(self, rows: int = 40) -> str:
        first = self.first
        head = (f"first divergent op: {first.name} ({first.op_type}): "
                + (f"{first.overflow} values overflow" if first.overflow else f"relative {first.rel:.2e}")
                if first else "no op diverges beyond the per-op policy")
        lines = [f"{self.candidate} vs {self.reference}: {head}", "",
                 f"{'value':40s} {'op':22s} {'max abs':>10s} {'rel':>10s} {'overflow':>8s}"]
        for o in self.ops[:rows]:
            mark = "  <-- first" if o is first else ""
            lines.append(f"{o.name[:40]:40s} {o.op_type:22s} {o.max_abs:10.2e} {o.rel:10.2e} "
                         f"{o.overflow:8d}{mark}")
        if len(self.ops) > rows:
            lines.append(f"... {len(self.ops) - rows} more ops")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "candidate": self.candidate,
                "first": self.first.to_dict() if self.first else None,
                "ops": [o.to_dict() for o in self.ops]}


def localize(program: Program, inputs: dict[str, np.ndarray], reference: str = "fp32",
             candidate: str = "fp16") -> Localization:
    ref = Interpreter(program, get_profile(reference)).run(inputs, capture=True)
    cand = Interpreter(program, get_profile(candidate)).run(inputs, capture=True)
    ops = []
    for name, op_type in ref.order:
        a, b = ref.trace[name], cand.trace.get(name)
        if b is None or not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.shape != b.shape:
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        finite = np.isfinite(a64)
        overflow = int((finite & ~np.isfinite(b64)).sum())
        both = finite & np.isfinite(b64)
        err = float(np.abs(a64 - b64)[both].max()) if both.any() else 0.0
        scale = float(np.abs(a64[finite]).max()) if finite.any() else 0.0
        ops.append(OpDivergence(name, op_type, err, err / scale if scale > 0 else 0.0, overflow, scale))
    return Localization(reference, candidate, tuple(ops))
