"""Golden fixtures of a model: seeded inputs with torch's reference outputs, and their provenance.

A fixture lets a test (or an app's own test on a device) check a runtime against numbers
recorded once. What one guarantees is written into it (`GUARANTEES`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from harness.spec import ModelSpec

GENERATOR_SEED = 20261126
MODEL_CASES = 24
GUARANTEES = "inputs bit-exact; torch reference outputs within the fp32 policy; content_sha256 over the cases"


def bits(a: np.ndarray) -> list:
    """float32 values as their uint32 bit patterns: exact in JSON."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).tolist()


def provenance(extra: dict) -> dict:
    from harness.export.manifest import tool_versions

    return {"tool_versions": tool_versions(), **extra}


def document(kind: str, provenance: dict, cases: list[dict]) -> str:
    """The fixture file's text: provenance with the content's sha256, then one case per line."""
    content = json.dumps(cases, sort_keys=True, separators=(",", ":"))
    provenance = {**provenance, "content_sha256": hashlib.sha256(content.encode()).hexdigest()}
    # One case per line: small files and readable diffs.
    body = ",\n".join("  " + json.dumps(c, sort_keys=True, separators=(",", ":")) for c in cases)
    return (f'{{"kind": {json.dumps(kind)},\n "provenance": '
            f"{json.dumps(provenance, sort_keys=True, indent=2)},\n"
            f' "cases": [\n{body}\n ]}}\n')


def model_fixture(spec: ModelSpec, cases: int = MODEL_CASES, seed: int = GENERATOR_SEED) -> str:
    """`model_<name>.json` for any model: every input and output of `cases` seeded cases.

    Runs the eager model only: exported artifacts are not part of a fixture (their bytes
    depend on converter versions; parity, not a hash, shows a conversion is right).
    """
    from harness.backends.pytorch import TorchBackend
    from harness.spec import weights_sha256

    backend = TorchBackend.of(spec)
    made = spec.make_cases(cases, seed)
    outputs = backend.run(made.feeds)
    docs = [{"name": f"{made.kinds[k]}_{k}",
             "inputs": {n: bits(v[k]) for n, v in made.feeds.items()},
             "outputs": {n: bits(v[k]) for n, v in outputs.items()}} for k in range(len(made))]
    extra = {"model": spec.name, "generator_seed": seed, "weights_sha256": weights_sha256(backend.module),
             "weights_source": spec.weights_source, "threshold": spec.threshold, "metadata": dict(spec.metadata),
             "guarantees": GUARANTEES}
    return document(f"model_{spec.name}", provenance(extra), docs)
