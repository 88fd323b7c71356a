"""Precision or bug? Each pair set against what its precision alone would do, measured from float64.

The reference runs again in float64 (the same torch module, `.double()`, the same cases): the float32
reference's distance from it is its own rounding noise, and every candidate is measured against float64,
not against another rounded run. What the candidate's precision alone would do is estimated by Monte
Carlo arithmetic (`harness.mil.montecarlo`): the float32 CoreML program runs `SAMPLES` times with every
value (weights included) rounded at random to the candidate's precision, and the largest distance of those
runs from their own mean on a case is that case's spread: rounding's reach. A program that computes
something else moves the runs' mean, not their spread, and the fp16 program's own rounding never sets it.

A pair whose deviation from float64 passes `FACTOR` times the spread on some case is *beyond precision*:
rounding at that precision does not go so far, so the conversion, the runtime or the emulator changed
the computation (a value past float16's range, an overflow, counts as beyond too: it is a range defect,
not rounding). A flipped decision is *expected at this precision* when rounding moves a Monte Carlo run's
decision off the runs' own (they are runs of the candidate's program: one that computes something else decides
the same way in every run), or its reference margin lies within its spread. A statistical expectation, not a
device measurement.

The cost is bounded: the cases the comparisons name (outside the policy's allowance, flips, near flips,
worst cases) and the first ones, at most `MAX_CASES`. Where a pair has a class, the class judges its numbers
and the policy's atol/rtol are the fallback (`Comparison.numbers_by`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.mil.montecarlo import SAMPLES, SEED, UNIT, rounding_spread
from harness.parity.compare import Comparison
from harness.parity.tolerances import PRECISION_FACTOR as FACTOR
from harness.records import FlipCause, ModuleStep, PrecisionClass
from harness.results import Reading, Results

if TYPE_CHECKING:
    from harness.spec import ModelSpec

#: Cases estimated: those the comparisons name, then the first ones, up to this many.
MAX_CASES = 128
#: The profile a real device's fp16 numbers are set against: the widest of the emulator's.
DEVICE_FP16_PROFILE = "fp16"


def worth_classifying(comparisons: Sequence[Comparison], explain: bool) -> list[Comparison]:
    """Every pair with `explain`; else the failing ones (a reference that gave NaN is broken itself)."""
    return [c for c in comparisons if explain or (c.verdict == "fail" and c.reference_non_finite == 0)]


def chosen_cases(comparisons: Sequence[Comparison], n: int) -> list[int]:
    """The cases worth estimating: those outside a policy's allowance (a class judges a pair's numbers only
    when it estimated all of them), every flip, near flip and worst case named, then the first ones."""
    outside = list(dict.fromkeys(k for c in comparisons for k in c.violation_cases))
    named = sorted(({f.case for c in comparisons for f in c.flips + c.near_flips}
                    | {c.worst[0] for c in comparisons if c.worst}) - set(outside))
    chosen = set((outside + named)[:MAX_CASES])
    rest = (k for k in range(n) if k not in chosen)
    while len(chosen) < min(MAX_CASES, n):
        chosen.add(next(rest))
    return sorted(chosen)


def float64_outputs(spec: ModelSpec, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The model's outputs in float64 (None when the model cannot run in float64, with the reason said
    by the caller: the policy's hand-set tolerances then stand alone)."""
    import copy

    import torch

    module = copy.deepcopy(spec.build()).double().eval()
    args = [torch.from_numpy(np.asarray(feeds[t.name], np.float64) if np.dtype(t.dtype).kind == "f"
                             else np.asarray(feeds[t.name])) for t in spec.inputs]
    try:
        with torch.inference_mode():
            out = module(*args)
    except Exception:  # an op without a float64 kernel: no expectation, not a failure
        return None
    out = out if isinstance(out, tuple | list) else (out,)
    return {t.name: o.detach().numpy().astype(np.float64) for t, o in zip(spec.outputs, out, strict=True)}


def monte_carlo(program, profile: str, feeds: Mapping[str, np.ndarray], precision: str,
                samples: int = SAMPLES, kept: frozenset[str] = frozenset()) -> list[dict]:
    """`samples` runs of the float32 `program` under `profile`, every value rounded at random to `precision`
    (`harness.mil.montecarlo`), run k of them stratified (`RandomRounding(SEED, precision, k, samples)`); `kept`:
    the ops the candidate's program keeps in float32 (the model's `fp32_ops`)."""
    from harness.mil import Interpreter, get_profile
    from harness.mil.montecarlo import RandomRounding

    return [{k: np.asarray(v, np.float64) for k, v in Interpreter(
        program, get_profile(profile), RandomRounding(SEED, precision, k, samples, kept)
    ).run(dict(feeds)).outputs.items()}
            for k in range(samples)]


def precision_of(r: Results) -> tuple[str, str] | None:
    """(precision, Monte Carlo profile) for a candidate's results; None for one this cannot estimate."""
    if r.precision == "fp16":
        emulated = r.name in ("coreml-emulated", "executorch-coreml-emulated")  # the option is the profile it ran
        return "fp16", r.option if emulated and r.option else DEVICE_FP16_PROFILE
    if r.precision == "fp32":
        return "fp32", "fp32"
    return None


def _per_case(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1).max(axis=1) if a.size else np.zeros(len(a))


def _distance(a: np.ndarray, r64: np.ndarray) -> np.ndarray:
    """|a - r64| where the reference is finite; inf where it is finite and `a` is not (an overflow)."""
    finite = np.isfinite(r64)
    with np.errstate(invalid="ignore"):
        d = np.abs(np.asarray(a, np.float64) - r64)
    return np.where(finite, np.where(np.isfinite(d), d, np.inf), 0.0)


def classify(c: Comparison, reading: Reading, cases: Sequence[int], candidate: np.ndarray, r64: np.ndarray,
             r32: np.ndarray, samples: Sequence[np.ndarray], precision: str, method: str) -> PrecisionClass:
    """One comparison's class: `candidate`, `r64`, `r32` and each of `samples` on `cases` (in that order)."""
    noise = _distance(r32, r64)
    with np.errstate(invalid="ignore"):  # the candidate's own rounding of each value: the least rounding does
        unit = np.where(np.isfinite(r64), UNIT[precision] * np.abs(r64), 0.0)
    element_spread = np.maximum(np.maximum(rounding_spread(samples), noise), unit)
    spread = _per_case(element_spread)
    distance = _distance(candidate, r64)
    deviation = _per_case(distance)
    overflow = tuple(int(cases[i]) for i in np.flatnonzero(np.isinf(deviation)))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(deviation == 0, 0.0, deviation / spread)
    beyond = tuple(int(cases[i]) for i in np.flatnonzero(ratio > FACTOR[precision]))
    worst = int(np.argmax(ratio)) if len(ratio) else 0
    return PrecisionClass(
        pair=c.pair, output=c.output, precision=precision, method=method, samples=len(samples),
        cases=tuple(int(k) for k in cases), beyond_cases=beyond, worst_case=int(cases[worst]) if len(cases) else 0,
        worst_ratio=float(ratio[worst]) if len(ratio) else 0.0, deviation=float(deviation.max(initial=0.0)),
        spread=float(spread.max(initial=0.0)), reference_noise=float(noise.max(initial=0.0)), factor=FACTOR[precision],
        flips=_flips(c, reading, list(cases), r64, samples, element_spread), overflow_cases=overflow)


def _flips(c: Comparison, reading: Reading, cases: list[int], r64: np.ndarray, samples: Sequence[np.ndarray],
           element_spread: np.ndarray) -> tuple[FlipCause, ...]:
    """Each listed flip against what rounding does to it. The Monte Carlo runs are runs of the candidate's own
    program, so they are counted across when they decide otherwise than their mean (the program without the
    rounding): a program that computes something else puts every run on its side, far from the reference, and
    that is no rounding."""
    out = []
    centre = np.mean(samples, axis=0) if len(samples) else None
    for f in c.flips:
        if f.case not in cases:
            continue
        i = cases.index(f.case)
        if c.decision == "argmax":  # the position's row of scores: the class is its last axis
            classes = r64[i].shape[-1] if r64[i].ndim else 1
            row = r64[i].reshape(-1, classes)[f.position]
            top = np.sort(row)
            margin = float(top[-1] - top[-2]) if classes > 1 else float("inf")
            centre_class = int(np.argmax(centre[i].reshape(-1, classes)[f.position])) if centre is not None else -1
            across = sum(int(np.argmax(s[i].reshape(-1, classes)[f.position]) != centre_class) for s in samples)
            spread = float(element_spread[i].reshape(-1, classes)[f.position].max())
        else:
            value = r64[i].reshape(-1)[f.position] if r64[i].ndim else r64[i]
            margin = float(abs(value - reading.threshold))
            side = centre[i].reshape(-1)[f.position] > reading.threshold if centre is not None else False
            across = sum(int((s[i].reshape(-1)[f.position] > reading.threshold) != side) for s in samples)
            spread = float(element_spread[i].reshape(-1)[f.position])
        overflow = not np.isfinite(f.candidate)
        out.append(FlipCause(f.case, f.position, margin, spread, 0 if overflow else across, overflow))
    return tuple(out)


def estimate(spec: ModelSpec, folder: Path, comparisons: Sequence[Comparison], runs: Mapping[str, Results],
             reading: Reading, n: int, feeds_at: Callable[[list[int]], dict[str, np.ndarray]],
             outputs_of: Callable[[str, list[int], dict[str, np.ndarray]], dict[str, np.ndarray] | None],
             say: Callable[[str], None] = lambda _m: None) -> tuple[PrecisionClass, ...]:
    """Each comparison's class. `outputs_of(label, cases, feeds)`: that run's outputs on those cases, whose
    inputs are `feeds` (None when it cannot give them); the reference's are the float32 ones."""
    from harness.export.manifest import Manifest
    from harness.mil import load_program

    wanted = [c for c in comparisons if precision_of(runs[c.candidate]) is not None]
    if not wanted:
        return ()
    cases = chosen_cases(wanted, n)
    feeds = feeds_at(cases)
    r64 = float64_outputs(spec, feeds)
    if r64 is None:
        say(f"no precision classes: {spec.name} cannot run in float64 (the policies' tolerances stand alone)")
        return ()
    reference = wanted[0].reference
    r32 = outputs_of(reference, cases, feeds)
    if r32 is None:
        return ()
    manifest = Manifest.read(folder)
    sampled: dict[tuple[str, str], list[dict]] = {}
    outputs: dict[str, dict | None] = {}
    out = []
    for c in wanted:
        precision, profile = precision_of(runs[c.candidate])
        if (precision, profile) not in sampled:
            try:  # always the float32 program: the fp16 one's own rounding (or defect) must not set its spread
                artifact = manifest.artifact("coreml", "fp32")
                say(f"estimating {precision} precision: {SAMPLES} Monte Carlo runs ({profile}) on {len(cases)} cases")
                sampled[precision, profile] = monte_carlo(load_program(folder / artifact.path), profile, feeds,
                                                          precision, kept=spec.fp32_ops)
            except Exception as err:  # no float32 program: only the reference's own noise
                say(f"no Monte Carlo runs at {precision}: {type(err).__name__}: {err}")
                sampled[precision, profile] = []
        runs_k = sampled[precision, profile]
        if precision == "fp16" and not runs_k:
            continue  # float32's noise says nothing of fp16: no class rather than a wrong one
        if c.candidate not in outputs:
            outputs[c.candidate] = outputs_of(c.candidate, cases, feeds)
        got = outputs[c.candidate]
        name = c.output or reading.outputs[0]
        if got is None or name not in got:
            continue
        method = (f"{len(runs_k)} Monte Carlo runs at {precision} of the fp32 program ({profile})" if runs_k
                  else "the float32 reference's own rounding")
        found = classify(c, reading, cases, np.asarray(got[name], np.float64), r64[name],
                         np.asarray(r32[name], np.float64), [s[name] for s in runs_k], precision, method)
        if not found.within:
            found = _located(spec, folder, c.candidate, found, feeds_at, say)
        out.append(found)
    return tuple(out)


def _located(spec: ModelSpec, folder: Path, candidate: str, found: PrecisionClass,
             feeds_at: Callable[[list[int]], dict[str, np.ndarray]], say: Callable[[str], None]) -> PrecisionClass:
    """A pair beyond precision with where it starts, as a torch module, and every module's deviation against
    its spread in execution order (`harness.parity.modules`), on its beyond cases."""
    from harness.errors import HarnessError
    from harness.parity.modules import localize_pair

    cases = list(found.beyond_cases[:16])
    try:
        located = localize_pair(spec, folder, candidate, cases, feeds_at(cases))
    except HarnessError as err:  # a backend without intermediate values: the class stands without a place
        say(f"not localising {candidate} by module: {err}")
        return found
    first = located.first
    found = dataclasses.replace(found, starts_at=located.where, modules=tuple(
        ModuleStep(m.title, m.deviation, m.spread, m.ratio, m.overflow) for m in located.modules))
    op = _overflowing_op(spec, folder, candidate, feeds_at(cases)) if first is None else None
    return dataclasses.replace(found, starts_at=op.title, overflow_start=True) if op is not None else found


def _overflowing_op(spec: ModelSpec, folder: Path, candidate: str, feeds: dict[str, np.ndarray]):
    """No torch module says where (functional code, values renamed or fused by coremltools' passes): the first op
    of an emulated fp16 program whose values pass float16's range where the fp32 profile's are finite, or None."""
    from harness import backend_names
    from harness.export.manifest import Manifest
    from harness.mil import load_program
    from harness.mil.localize import localize, torch_module_paths

    match = backend_names.REFERENCE.match(backend_names.label(candidate))
    if match is None or match["name"] != "coreml-emulated" or match["precision"] != "fp16":
        return None
    try:  # a diagnosis: a program this cannot run on these cases leaves the class without a place, as before
        program = load_program(folder / Manifest.read(folder).artifact("coreml", "fp16").path)
        ops = localize(program, feeds, "fp32", match["option"] or "fp16",
                       modules=torch_module_paths(spec.build(), spec.examples(batch=1)))
    except Exception:
        return None
    return next((o for o in ops.ops if o.overflow), None)
