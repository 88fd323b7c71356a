"""Find where two runs of the same program part ways: the first op whose outputs diverge.

Runs one program under two profiles (by default the fp32 profile as reference and an fp16
one as candidate), so every intermediate value has the same name on both sides, and
judges each op's output by a per-op policy: relative divergence above `rel_limit`
(default 1%, about 20 float16 half-ULPs: more than one op's storage rounding and
accumulation explain), or any value that is finite in the reference and infinite or NaN
in the candidate (an overflow).

Ops carry MIL names (`var_8_cast_fp16`); where the torch module that made an op is known
(`torch_module_paths`) it is shown beside the name (`body.3 (Conv1d)`), as a user thinks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from harness.mil.interpreter import Interpreter
from harness.mil.profiles import get_profile
from harness.mil.program import Program

REL_LIMIT = 0.01
#: What coremltools' fp16 passes append to a value's name.
_PASS_SUFFIXES = re.compile(r"(_cast_fp16|_cast_fp32|_to_fp16|_to_fp32)+$")


@dataclass(frozen=True)
class OpDivergence:
    name: str
    op_type: str
    max_abs: float
    rel: float  # max_abs / max|reference|
    overflow: int  # values finite in the reference, not in the candidate
    reference_max: float
    rel_limit: float = REL_LIMIT
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
    rel_limit: float = REL_LIMIT
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

    def with_modules(self, paths: Mapping[str, str]) -> Localization:
        """The same localization with each op's torch module (from `torch_module_paths`) where known."""
        return replace(self, ops=tuple(replace(o, module=module_of(o.name, paths)) for o in self.ops))

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


def localize(program: Program, inputs: dict[str, np.ndarray], reference: str = "fp32",
             candidate: str = "fp16", *, rel_limit: float = REL_LIMIT, cases: Sequence[int] = (),
             modules: Mapping[str, str] | None = None) -> Localization:
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
        ops.append(OpDivergence(name, op_type, err, err / scale if scale > 0 else 0.0, overflow, scale, rel_limit,
                                module_of(name, modules or {})))
    return Localization(reference, candidate, tuple(ops), rel_limit, tuple(int(k) for k in cases))


def module_of(name: str, paths: Mapping[str, str]) -> str:
    """The torch module of a MIL value: by its name, less the suffixes coremltools' precision passes
    append (`input_3` -> `input_3_cast_fp16`); "" when unknown (ops a pass created or renamed)."""
    return paths.get(_PASS_SUFFIXES.sub("", name), "")


def torch_module_paths(module, examples: tuple) -> dict[str, str]:
    """MIL value name -> `path (Type)` of the torch module that computed it, for a traced module.

    The saved program keeps no torch scopes (coremltools 9 keeps them on the converted ops in
    memory, but serialises only each op's `name`), and the names are the torch values' own,
    sanitised. So trace the module and walk the graph coremltools' torch frontend converts
    (its own preprocessing, `_expand_and_optimize_ir`), where each node knows its module
    hierarchy. Empty when that frontend is not there to ask.
    """
    import warnings

    import torch

    try:
        from coremltools.converters.mil.frontend.torch.torchscript_utils import _expand_and_optimize_ir
    except ImportError:
        return {}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, examples, check_trace=False)
        graph = _expand_and_optimize_ir(traced)[0]
    paths = {}
    for node in graph.nodes():
        hierarchy = node.getModuleHierarchy()
        if not hierarchy or node.kind() in ("prim::Constant", "prim::GetAttr", "prim::ListConstruct"):
            continue
        scopes = re.findall(r"([^.()]+)\(([^()]*)\)", hierarchy)
        if not scopes:
            continue
        display = f"{'.'.join(s for s, _ in scopes)} ({scopes[-1][1]})"
        for out in node.outputs():
            name = out.debugName()
            mil = re.sub(r"[^A-Za-z0-9_]", "_", name)
            paths["var_" + mil if mil[:1].isdigit() else mil] = display
    return paths
