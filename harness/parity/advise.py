"""What to change: the fewest ops to keep in float32 so that an fp16 program decides as float64 does.

Decisions are judged where the float64 reference's margin from the threshold (or between its top two
classes) exceeds the float32 reference's own rounding noise on that case: there float64's decision is
the model's. Starting from the fp16 program as exported, repeat: run it in the interpreter under the
profile; where decisions disagree, localise (`harness.mil.localize`) on those cases and keep the first
divergent op not yet kept (or, when no single op diverges, the one that diverges most) in float32; then
convert again with coremltools' `FP16ComputePrecision(op_selector=...)`. The advice is what the last
conversion, *run*, showed: it is verified, not predicted.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.spec import ModelSpec

#: Conversions tried at most: each keeps one more op in float32.
MAX_STEPS = 8
#: Cases of the disagreeing ones that each localisation runs.
LOCALIZED = 16


@dataclass(frozen=True)
class Advice:
    model: str
    profile: str
    cases: int
    judged: int  # decisions judged (float64's margin past the float32 reference's noise)
    before: int  # of those, decided otherwise by the fp16 program as exported
    after: int  # by the program with `fp32_ops` kept in float32
    fp32_ops: tuple[str, ...]  # MIL value names, in the order they were added
    kept: tuple[str, ...]  # each as the user reads it: `var_54 (mul) in amplifier (Linear)`
    compute_ops: int  # compute ops in the program
    size_before: int  # bytes of the fp16 package's weights, and of the advised one's
    size_after: int
    left: tuple[tuple[int, int, float], ...] = ()  # (case, position, float64 margin) of the widest still differing

    @property
    def fixed(self) -> bool:
        return self.after == 0

    def code(self) -> str:
        """The exact argument to pass to `ct.convert`."""
        names = ", ".join(repr(n) for n in self.fp32_ops)
        return ("import re\n"
                f"KEEP_FP32 = {{{names}}}  # MIL value names, as the saved program spells them\n\n"
                "def mil_name(name):  # how coremltools spells a torch value's name in the saved program\n"
                "    name = re.sub(r\"[^A-Za-z0-9_]\", \"_\", name)\n"
                "    return \"var_\" + name if name[:1].isdigit() else name\n\n"
                "mlmodel = ct.convert(traced, ..., compute_precision=ct.transform.FP16ComputePrecision(\n"
                "    op_selector=lambda op: not any(mil_name(o.name) in KEEP_FP32 for o in op.outputs)))")

    def render(self) -> str:
        share = len(self.fp32_ops) / self.compute_ops if self.compute_ops else 0.0
        if not self.before:
            return (f"{self.model} under {self.profile}: the fp16 program decides as float64 does on all "
                    f"{self.judged:,} judged decisions of {self.cases} cases: nothing to keep in float32")
        head = (f"{self.model} under {self.profile}: {self.before} of {self.judged:,} judged decisions differ from "
                f"float64 as exported; keeping {len(self.fp32_ops)} of {self.compute_ops} compute ops in float32 "
                f"({share:.0%}) leaves {self.after}" + (" (verified: converted and run)" if self.fixed else
                                                         " (converted and run): not all fixed by the ops tried"))
        lines = [head, f"weights {self.size_before:,} -> {self.size_after:,} bytes", "kept in float32:"]
        lines += [f"  {k}" for k in self.kept]
        if self.left:
            lines.append("still differing (the widest float64 margins): " + ", ".join(
                f"case {c} position {p}: margin {m:.2g}" for c, p, m in self.left)
                + " (near-ties fp16 rounding elsewhere still reaches: `parity --explain` says whether expected)")
        return "\n".join(lines + ["", "pass to ct.convert:", self.code()])

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "fixed": self.fixed, "code": self.code()}


def _decided(out: np.ndarray, rule: str, threshold: float) -> np.ndarray:
    return out.argmax(-1) if rule == "argmax" else out > threshold


def _margin(out: np.ndarray, rule: str, threshold: float) -> np.ndarray:
    if rule == "argmax":
        top = np.sort(out, axis=-1)
        return top[..., -1] - top[..., -2]
    return np.abs(out - threshold)


def advise(spec: ModelSpec, folder: str | Path, *, profile: str = "fp16", n: int = 256, seed: int = 0,
           progress: Callable[[str], None] | None = None, max_steps: int = MAX_STEPS) -> Advice:
    """Search and verify the fp32 ops for `spec`'s fp16 export in `folder` (see the module's docstring)."""
    from harness.backends.pytorch import TorchBackend
    from harness.errors import UsageError
    from harness.export import ensure_exported, export_model
    from harness.export.manifest import Manifest
    from harness.mil import Interpreter, get_profile, load_program
    from harness.mil.localize import localize, torch_module_paths
    from harness.parity import cases as chunking
    from harness.parity.expectation import float64_outputs
    from harness.spec import built

    spec.one_call_at_a_time("advise")
    say = progress or (lambda _m: None)
    spec = built(spec)
    if spec.decision == "none":
        raise UsageError(f"{spec.name} makes no decision (decision 'none'): there is nothing to keep")
    folder = Path(folder)
    ensure_exported(spec, folder, progress=say)
    cases = chunking.make(spec, n, seed)
    feeds = cases.feeds
    out = spec.decided_output
    r64 = float64_outputs(spec, feeds)
    if r64 is None:
        raise UsageError(f"{spec.name} cannot run in float64: advise judges against it")
    r64 = r64[out]
    r32 = TorchBackend.of(spec).run(feeds)[out].astype(np.float64)
    noise = np.abs(r32 - r64).reshape(len(r64), -1).max(axis=1)
    margin = _margin(r64, spec.decision, spec.threshold)
    judged = margin > noise.reshape((-1,) + (1,) * (margin.ndim - 1))
    if spec.decision == "threshold" and cases.decision_mask is not None:
        judged &= np.asarray(cases.decision_mask, bool)
    truth = _decided(r64, spec.decision, spec.threshold)

    def disagreeing(program) -> np.ndarray:
        got = Interpreter(program, get_profile(profile)).run(dict(feeds)).outputs[out].astype(np.float64)
        with np.errstate(invalid="ignore"):
            return judged & (_decided(got, spec.decision, spec.threshold) != truth)

    artifact = Manifest.read(folder).artifact("coreml", "fp16")
    program = load_program(folder / artifact.path)
    size_before = _weights_bytes(folder / artifact.path)
    wrong = disagreeing(program)
    before = int(wrong.sum())
    modules = torch_module_paths(spec.build(), spec.examples(batch=1))
    kept: list[str] = []
    titles: dict[str, str] = {}
    size_after = size_before
    with tempfile.TemporaryDirectory(prefix="harness-advise-") as scratch:
        def convert(keep: list[str], tag: str):
            """The fp16 program with `keep` in float32, converted for real: (program, weights bytes)."""
            target = Path(scratch) / tag
            manifest = export_model(dataclasses.replace(spec, fp32_ops=frozenset(keep)), target,
                                    targets=[("coreml", "fp16")])
            path = target / manifest.artifact("coreml", "fp16").path
            return load_program(path), _weights_bytes(path)

        for step in range(max_steps):
            if not wrong.any():
                break
            where = sorted({int(k) for k in np.argwhere(wrong)[:, 0]})[:LOCALIZED]
            say(f"advise step {step + 1}: {int(wrong.sum())} decisions differ; localising on {len(where)} cases")
            loc = localize(program, chunking.take(spec, n, seed, where), "fp32", profile, cases=where, modules=modules)
            inputs = {name for name, _ in program.inputs}
            candidates = [o for o in loc.ops if _base(o.name) not in kept and o.name not in inputs]
            first = next((o for o in candidates if o.diverged), None) or max(
                candidates, key=lambda o: (o.overflow, o.rel), default=None)
            if first is None:
                break
            kept.append(_base(first.name))
            titles[kept[-1]] = first.title.replace(first.name, kept[-1], 1)
            program, size_after = convert(kept, f"step{step}")
            wrong = disagreeing(program)
        # Ops kept on the way that the result does not need (one conversion each, latest first).
        for name in list(reversed(kept))[1:] if len(kept) > 1 else []:
            trial = [k for k in kept if k != name]
            say(f"advise: checking whether {name} is needed")
            tried, size = convert(trial, f"without-{name}")
            still = disagreeing(tried)
            if still.sum() <= wrong.sum():
                kept, program, size_after, wrong = trial, tried, size, still
    left = [(int(i[0]), int(i[-1]) if len(i) > 1 else 0, float(margin[tuple(i)])) for i in np.argwhere(wrong)]
    compute = sum(1 for op in program.operations() if op.type not in ("const", "cast"))
    return Advice(spec.name, profile, n, int(judged.sum()), before, int(wrong.sum()), tuple(kept),
                  tuple(titles[k] for k in kept), compute, size_before, size_after,
                  tuple(sorted(left, key=lambda t: -t[2])[:5]))


def _base(name: str) -> str:
    """The value's name before coremltools' precision passes suffixed it (`var_54_cast_fp16` -> `var_54`)."""
    from harness.mil.localize import _PASS_SUFFIXES

    return _PASS_SUFFIXES.sub("", name)


def _weights_bytes(package: Path) -> int:
    return sum(p.stat().st_size for p in package.rglob("*") if p.is_file() and "weights" in p.parts)
