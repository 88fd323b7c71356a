"""Run folders made without a model: a cases file and results files of seeded numbers, every claim
consistent, for tests of what reading and comparing files refuse (no export, no torch run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.parity.steps import Run
from harness.records import Cases
from harness.results import CaseFile, Reading, Results

WEIGHTS = "0123456789abcdef" * 4
COREML_WEIGHTS = {"fp32": "a1" * 32, "fp16": "b2" * 32}
#: label -> (precision, option) of the runs written by default; the first is the reference.
LABELS = {"torch@fp32": ("fp32", ""), "coreml-emulated@fp16[fp16]": ("fp16", "fp16"),
          "coreml@fp16[CPU_AND_NE]": ("fp16", "CPU_AND_NE")}


def run(n: int = 6, seed: int = 3) -> Run:
    """A consistent run of a two-output model over `n` seeded cases (its numbers agree closely)."""
    rng = np.random.default_rng(seed)
    cases = Cases(feeds={"x": rng.normal(size=(n, 3)).astype(np.float32)}, decision_mask=None,
                  kinds=("seeded",) * n, raw=(), seed=seed)
    reading = Reading(("p", "score"), "p", "threshold", 0.5, None, ((4,), (2, 2)))
    case_file = CaseFile("synthetic", WEIGHTS, "seeded", False, reading, cases, coreml_weights=dict(COREML_WEIGHTS))
    p = rng.uniform(0.05, 0.95, size=(n, 4)).astype(np.float32)
    score = rng.normal(size=(n, 2, 2)).astype(np.float32)
    results = tuple(
        Results(model="synthetic", weights_sha256=WEIGHTS, backend=label, precision=precision, option=option,
                inputs=case_file.inputs, status="ran", outputs={"p": p, "score": score}, seconds=0.01,
                provenance={"device": "test"},
                loaded_weights_sha256=COREML_WEIGHTS[precision] if label.startswith("coreml") else "")
        for label, (precision, option) in LABELS.items())
    return Run(case_file, results)


def write(folder: Path, done: Run | None = None) -> Path:
    """`done` (or `run()`) written to `folder` as `python -m harness run --out` writes a run."""
    return (done or run()).write(folder)
