"""Where a failing emulated pair starts to diverge: the CoreML program it ran, replayed op by op.

Each failing `coreml-emulated` pair's program (checked by sha256 against what its results recorded)
runs on its flipped and worst cases beside the same program under the fp32 profile; the first op past
`OP_REL_LIMIT` is named, with the torch module it came from when the model is at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.backend_names import EMULATED_BACKEND
from harness.errors import HarnessError
from harness.parity.compare import Comparison
from harness.parity.verdict import Localizations
from harness.results import Results

if TYPE_CHECKING:
    from harness.spec import ModelSpec

Progress = Callable[[str], None]
#: Cases localised per failing pair (its flips and worst case first), and in the per-op overview.
LOCALIZED_CASES = 16
OVERVIEW_CASES = 32


def _quiet(_msg: str) -> None:
    pass


def _program(folder: Path, r: Results, precision: str, say: Progress):
    """The CoreML program `r` ran (checked by sha256 against what it recorded) and the batch it was declared
    with, or None, said why."""
    from harness.export.manifest import Manifest, sha256_path
    from harness.mil import load_program
    from harness.shapes import parse

    try:
        manifest = Manifest.read(folder)
        artifact = manifest.artifact("coreml", precision)
        recorded = r.provenance.get("export", {}).get(f"coreml@{precision}") if r is not None else None
        if recorded is not None and recorded != artifact.sha256:
            say(f"not localizing {r.backend}: the coreml@{precision} artifact in {folder} is not the one it ran")
            return None
        if sha256_path(folder / artifact.path) != artifact.sha256:
            say(f"not localizing: {artifact.path} in {folder} changed since export")
            return None
        return load_program(folder / artifact.path), parse(manifest.batch)
    except (HarnessError, OSError) as err:
        say(f"not localizing: {err}")
        return None


def localize(feeds_at: Callable[[list[int]], dict[str, np.ndarray]], n: int, comparisons: Sequence[Comparison],
             runs: Mapping[str, Results], artifacts: str | Path, *, spec: ModelSpec | None = None,
             overview: bool = False, progress: Progress | None = None) -> Localizations:
    """Where each failing emulated pair first diverges from the same program under the fp32 profile
    (on its flipped and worst cases), and with `overview` the fp16 program op by op on the first cases.
    `feeds_at(cases)`: the inputs of those of the `n` cases."""
    from harness.mil.localize import localize as localize_program
    from harness.mil.localize import torch_module_paths

    say = progress or _quiet
    folder = Path(artifacts)
    failing = [c for c in comparisons  # a reference that gave NaN is broken itself: nothing to localise; a pair run
               # under the fp32 profile is the reference profile itself, where no op can diverge from itself (its class,
               # against float64, says where it starts)
               if c.verdict == "fail" and c.reference_non_finite == 0 and runs[c.candidate].name == EMULATED_BACKEND
               and runs[c.candidate].option != "fp32"]
    if not failing and not overview:
        return Localizations()
    modules = torch_module_paths(spec.build(), spec.examples(batch=1)) if spec is not None else {}
    pairs = {}
    for c in failing:
        r = runs[c.candidate]
        found = _program(folder, r, r.precision, say)
        if found is None:
            continue
        program, batch = found
        say(f"localizing {c.pair}")
        worst = sorted({f.case for f in c.flips} | {c.worst[0]})[:LOCALIZED_CASES]
        worst = [worst[i] for i in batch.first(len(worst))]  # as many as the program's declared batch takes
        pairs[c.pair] = localize_program(program, feeds_at(worst), "fp32", r.option, cases=worst, modules=modules)
    whole = None
    if overview:
        fp16 = next((r for r in runs.values() if r.status == "ran" and r.name == EMULATED_BACKEND
                     and r.precision == "fp16"), None)
        found = _program(folder, fp16, "fp16", say)
        if found is not None:
            program, batch = found
            first = batch.first(min(OVERVIEW_CASES, n))
            whole = localize_program(program, feeds_at(first), "fp32", "fp16-storage", cases=first,
                                     modules=modules)
    return Localizations(pairs, whole)
