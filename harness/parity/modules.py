"""Where a pair starts to part from float64, named by the torch modules the user wrote.

Every submodule's output is captured with forward hooks, in float64 and in float32. A backend's
intermediate values are mapped to those modules: a CoreML program's MIL values through the torch
module hierarchy of the traced graph (`harness.mil.localize.torch_module_paths`), an ONNX model's nodes
through the exporter's name scopes (`pkg.torch.onnx.name_scopes`, or a TorchScript export's node
names), with every intermediate marked as an extra graph output for onnxruntime, as Polygraphy's
"mark all" does. A module's value is the last one mapped to it whose shape is its output's; a module
run twice (a shared block) counts at its first run, where a defect in it starts, on either side.

Each module's deviation from float64 is set against its spread: the float32 reference's own distance
from float64 there, the Monte Carlo runs of the candidate's precision where a CoreML program of it
exists, and never less than one unit roundoff of the module's output. The first module, in execution
order, whose deviation passes `FACTOR` times its spread (or that overflows) is where the pair starts to
part: from there on, the error is not rounding.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.mil.montecarlo import SAMPLES, SEED, UNIT, rounding_spread
from harness.parity.tolerances import PRECISION_FACTOR as FACTOR

if TYPE_CHECKING:
    from harness.spec import ModelSpec


@dataclass(frozen=True)
class ModuleDivergence:
    path: str  # e.g. "body.3"
    kind: str  # e.g. "Conv1d"
    deviation: float  # the largest |candidate - float64| over the cases
    spread: float  # the largest spread over the cases
    ratio: float  # the largest per-case deviation / spread
    overflow: bool  # NaN or infinite where float64 is finite
    #: modules that ran since the mapped module before this one and map to no value (a branch traced away, an op
    #: fused into another module's): the pair may part there, unseen
    unmapped_before: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.path} ({self.kind})"


@dataclass(frozen=True)
class ModuleLocalization:
    pair: str
    precision: str
    factor: float
    modules: tuple[ModuleDivergence, ...]  # in execution order, those a backend value maps to
    cases: tuple[int, ...]
    of: int = 0  # the model's modules with a float output: how many could have been mapped

    @property
    def localised(self) -> bool:
        """Some module was set against float64: a localisation that mapped none says nothing about any."""
        return bool(self.modules)

    @property
    def first(self) -> ModuleDivergence | None:
        return next((m for m in self.modules if m.overflow or m.ratio > self.factor), None)

    @property
    def where(self) -> str:
        """Where the pair starts to part: the first module past its spread, and the modules that ran just before it
        without a value to set against float64; "" when no module is past its spread."""
        first = self.first
        if first is None:
            return ""
        if not first.unmapped_before:
            return first.title
        return (f"{first.title}, or before it in {', '.join(first.unmapped_before)}, which no value of the program "
                "maps to")

    def summary(self) -> str:
        first = self.first
        if not self.localised:
            return (f"{self.pair}: none of the model's {self.of} modules maps to a value of the program (renamed or "
                    "fused by the converter's passes): nothing localised; the program's own ops: python -m harness "
                    "localize without --pair")
        if first is None:
            return (f"{self.pair}: every mapped module's output within {self.factor:g}x the spread {self.precision} "
                    f"rounding gives ({len(self.modules)} of {self.of} modules mapped, {len(self.cases)} cases)")
        why = "overflows" if first.overflow else f"deviates {first.ratio:.3g}x the spread {self.precision} gives"
        return f"{self.pair}: starts to part from float64 at {first.title}, which {why}" + (
            f" (or before it in {', '.join(first.unmapped_before)}, which no value of the program maps to)"
            if first.unmapped_before else "")

    def render(self) -> str:
        lines = [self.summary(), "", f"{'torch module':36s} {'max dev':>10s} {'spread':>10s} {'ratio':>9s}"]
        first = self.first
        for m in self.modules:
            mark = "  <-- first" if m is first else ""
            ratio = "overflow" if m.overflow else f"{m.ratio:9.3g}"
            lines.append(f"{m.title[:36]:36s} {m.deviation:10.2e} {m.spread:10.2e} {ratio:>9s}{mark}")
        return "\n".join(lines)


def torch_outputs(module, spec: ModelSpec, feeds: Mapping[str, np.ndarray], float64: bool,
                  calls: dict[str, int] | None = None) -> dict:
    """path -> (module class, output as float64) for every submodule, in the order their first forwards
    finish; `calls`, when given, gets how many times each ran."""
    import copy

    import torch

    module = copy.deepcopy(module).eval()
    if float64:
        module = module.double()
    seen: dict[str, tuple[str, np.ndarray]] = {}
    handles = []
    kinds = {path: type(sub).__name__ for path, sub in module.named_modules()}
    for path, sub in module.named_modules():
        if not path:
            continue

        def hook(_m, _inputs, output, path=path, kind=kinds[path]):
            value = output[0] if isinstance(output, tuple | list) and output else output
            if calls is not None:
                calls[path] = calls.get(path, 0) + 1
            if isinstance(value, torch.Tensor) and value.is_floating_point() and path not in seen:
                seen[path] = (kind, value.detach().double().numpy())  # a reused module at its first run

        handles.append(sub.register_forward_hook(hook))
    args = []
    for t in spec.inputs:
        value = np.asarray(feeds[t.name])
        kind = np.dtype(t.dtype).kind == "f"
        args.append(torch.from_numpy(value.astype(np.float64 if float64 else np.float32) if kind else value))
    try:
        with torch.inference_mode():
            module(*args)
    finally:
        for h in handles:
            h.remove()
    return seen


def _by_module(values: Mapping[str, np.ndarray], order: Sequence[str], module_of: Mapping[str, str],
               wanted: Mapping[str, tuple[str, np.ndarray]], reused: frozenset[str] = frozenset()
               ) -> dict[str, np.ndarray]:
    """path -> the last value mapped to that module whose shape is its output's; for a module in `reused`
    (run more than once), the last of its first run: its values until a value of another module (not one of
    its own submodules) or of none comes after one of its output's shape."""
    out: dict[str, np.ndarray] = {}
    done: set[str] = set()
    for name in order:
        path = module_of.get(name, "")
        done.update(p for p in reused if p in out and p != path and not path.startswith(p + "."))
        value = values.get(name)
        if (path in wanted and path not in done and isinstance(value, np.ndarray)
                and value.shape == wanted[path][1].shape):
            out[path] = np.asarray(value, np.float64)
    return out


def mil_values(program, profile: str, feeds: Mapping[str, np.ndarray], modules: Mapping[str, str], noise=None):
    """(values, order, value -> module path) of one run of a CoreML program."""
    from harness.mil import Interpreter, get_profile
    from harness.mil.localize import module_of

    run = Interpreter(program, get_profile(profile), noise).run(dict(feeds), capture=True)
    order = [name for name, _ in run.order]
    paths = {name: module_of(name, modules).split(" (")[0] for name in order}
    return run.trace, order, {k: v for k, v in paths.items() if v}


def _module_path(parts: Sequence[str], known: Sequence[str]) -> str:
    """The module a TorchScript-exported node ran in, from its name's parts (`/blocks.1/mix/Softmax`: `blocks.1`, then
    `mix` under it): each part is a module's path under the one before, or one ending so, alone there (a ModuleDict
    iterated leaves its key out); the last part as it is when that does not resolve."""
    path = ""
    for part in parts:
        exact = f"{path}.{part}" if path else part
        if exact in known:
            path = exact
            continue
        ends = [k for k in known if (not path or k.startswith(path + ".")) and k.endswith("." + part)]
        if len(ends) != 1:
            return parts[-1] if parts else ""
        path = ends[0]
    return path


def onnx_values(path: Path, feeds: Mapping[str, np.ndarray], modules: Sequence[str] = ()):
    """(values, order, value -> module path) of an ONNX model with every node output marked as an output.
    `modules`: the torch model's module paths, which a TorchScript export's node names are resolved against."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    paths, order = {}, []
    known = frozenset(modules)
    for node in model.graph.node:
        scopes = next((ast.literal_eval(p.value) for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"),
                      None)
        if scopes is not None:
            module = scopes[-2] if len(scopes) > 2 else ""
        else:  # the TorchScript exporter: /blocks.1/mix/Softmax
            parts = [p for p in node.name.split("/") if p][:-1]
            module = _module_path(parts, known) if known else (parts[-1] if parts else "")
        for out in node.output:
            if out:
                order.append(out)
                if module:
                    paths[out] = module
    known = {o.name for o in model.graph.output}
    for name in order:
        if name not in known:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = session.run(names, {i.name: np.asarray(feeds[i.name], np.float32) for i in session.get_inputs()})
    return dict(zip(names, got, strict=True)), order, paths


def _per_case(a: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(a)
    return a.reshape(n, -1).max(axis=1) if a.size else np.zeros(n)


def compare_modules(pair: str, precision: str, cases: Sequence[int], t64: Mapping, t32: Mapping,
                    candidate: Mapping[str, np.ndarray], samples: Sequence[Mapping[str, np.ndarray]]
                    ) -> ModuleLocalization:
    """Each module the candidate maps to, in execution order, against float64 and its spread."""
    rows, unmapped = [], []
    for path, (kind, r64) in t64.items():
        if path not in candidate:  # a container whose submodules map says nothing of its own
            if not any(p.startswith(path + ".") for p in candidate):
                unmapped.append(f"{path} ({kind})")
            continue
        finite = np.isfinite(r64)
        with np.errstate(invalid="ignore", over="ignore"):
            dev = np.where(finite, np.abs(candidate[path] - r64), 0.0)
            overflow = bool((finite & ~np.isfinite(candidate[path])).any())
            dev = np.where(np.isfinite(dev), dev, 0.0)
            spread = np.abs(t32[path][1] - r64) if path in t32 else np.zeros_like(r64)
            runs = [s[path] for s in samples if path in s]
            spread = np.maximum(spread, rounding_spread(runs))
        n = len(r64)
        floor = UNIT[precision] * _per_case(np.where(finite, np.abs(r64), 0.0), n)
        case_spread = np.maximum(_per_case(np.where(finite, spread, 0.0), n), floor)
        case_dev = _per_case(dev, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(case_dev == 0, 0.0, case_dev / case_spread)
        rows.append(ModuleDivergence(path, kind, float(case_dev.max(initial=0.0)),
                                     float(case_spread.max(initial=0.0)), float(ratio.max(initial=0.0)), overflow,
                                     tuple(unmapped)))
        unmapped = []
    return ModuleLocalization(pair, precision, FACTOR[precision], tuple(rows), tuple(int(k) for k in cases),
                              len(t64))


def localize_pair(spec: ModelSpec, folder: Path, candidate: str, cases: Sequence[int],
                  feeds: Mapping[str, np.ndarray], samples: int = SAMPLES // 2) -> ModuleLocalization:
    """`candidate` (a `coreml-emulated@...` or `onnxruntime@fp32` label) against float64, module by module."""
    from harness import backend_names
    from harness.errors import UsageError
    from harness.export.manifest import Manifest
    from harness.mil import load_program
    from harness.mil.localize import torch_module_paths

    label = backend_names.label(candidate)
    match = backend_names.REFERENCE.match(label)
    name, precision, option = match["name"], match["precision"], match["option"]
    if name not in ("coreml-emulated", "onnxruntime"):
        raise UsageError(f"localising {label} module by module needs its intermediate values: coreml-emulated and "
                         "onnxruntime give them; for another backend, localise the emulator at its precision")
    module = spec.build()
    calls: dict[str, int] = {}
    t64 = torch_outputs(module, spec, feeds, float64=True, calls=calls)
    t32 = torch_outputs(module, spec, feeds, float64=False)
    reused = frozenset(p for p, k in calls.items() if k > 1)
    manifest = Manifest.read(folder)
    modules = torch_module_paths(module, spec.examples(batch=1))
    from harness.mil.montecarlo import RandomRounding

    runs = []
    try:  # rounding's reach at the pair's precision, on the float32 program (never the candidate's own)
        reference = load_program(folder / manifest.artifact("coreml", "fp32").path)
        for k in range(samples):
            values, order, paths = mil_values(reference, option if name == "coreml-emulated" and option else precision,
                                              feeds, modules,
                                              RandomRounding(SEED, precision, k, samples, spec.fp32_ops))
            runs.append(_by_module(values, order, paths, t64, reused))
    except Exception:  # no float32 program: the float32 reference's own noise alone
        runs = []
    try:
        program = load_program(folder / manifest.artifact("coreml", precision).path)
    except Exception:
        program = None
    if name == "onnxruntime":
        values, order, paths = onnx_values(folder / manifest.artifact("onnx", "fp32").path, feeds,
                                           [p for p, _ in module.named_modules() if p])
    else:
        if program is None:
            raise UsageError(f"no CoreML program at {precision} in {folder}")
        values, order, paths = mil_values(program, option or precision, feeds, modules)
    got = _by_module(values, order, paths, t64, reused)
    return compare_modules(f"{label} vs float64", precision, cases, t64, t32, got, runs)
