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

import numpy as np

from harness.mil.interpreter import Interpreter
from harness.mil.profiles import get_profile
from harness.mil.program import Program, mil_name
from harness.parity.tolerances import OP_REL_LIMIT
from harness.records import Localization, OpDivergence

#: What coremltools' fp16 passes append to a value's name.
_PASS_SUFFIXES = re.compile(r"(_cast_fp16|_cast_fp32|_to_fp16|_to_fp32)+$")


def localize(program: Program, inputs: dict[str, np.ndarray], reference: str = "fp32",
             candidate: str = "fp16", *, rel_limit: float = OP_REL_LIMIT, cases: Sequence[int] = (),
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

    from harness.quiet import coremltools

    try:
        coremltools()  # imported quietly: its missing native proxies say so on stderr otherwise
        from coremltools.converters.mil.frontend.torch.torchscript_utils import _expand_and_optimize_ir
    except ImportError:
        return {}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, examples, check_trace=False)
        graph = _expand_and_optimize_ir(traced)[0]
    canonical = {id(m): path for path, m in module.named_modules()}  # a module shared under two names: its first
    every = {path: f"{canonical[id(m)]} ({type(m).__name__})"
             for path, m in module.named_modules(remove_duplicate=False)}
    paths = {}
    for node in graph.nodes():
        hierarchy = node.getModuleHierarchy()
        if not hierarchy or node.kind() in ("prim::Constant", "prim::GetAttr", "prim::ListConstruct"):
            continue
        # the hierarchy names only the modules called (`ff(Sequential).0(Linear)` for `blocks[1]["ff"][0]`, a
        # ModuleList and a ModuleDict iterated, never called); the tracer's scope holds the full path
        scope = node.scopeName().rsplit("/", 1)[-1].removeprefix("__module").removeprefix(".")
        scopes = re.findall(r"([^.()]+)\(([^()]*)\)", hierarchy)
        if scope in every and scope:
            display = every[scope]
        elif scopes:
            display = f"{'.'.join(s for s, _ in scopes)} ({scopes[-1][1]})"
        else:
            continue
        for out in node.outputs():
            paths[mil_name(out.debugName())] = display
    return paths
