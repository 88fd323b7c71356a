"""Golden fixtures of a model: seeded inputs with torch's reference outputs, and their provenance.

A fixture lets a test (or an app's own test on a device) check a runtime against numbers
recorded once. What one guarantees is written into it (`GUARANTEES`). Its inputs are exact
(seeded draws made of integers, `harness.exact_random`); torch's outputs move by float32
rounding from one CPU to another, so writing a fixture again keeps the stored outputs wherever
this machine's agree with them under the fp32 policy (`beyond_fp32`): the same bytes on every
machine, until the model changes.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from harness.errors import UsageError
from harness.parity.tolerances import FP32
from harness.spec import ModelSpec

GENERATOR_SEED = 20261126
MODEL_CASES = 24
#: The most bytes a fixture file may hold before it is refused unread (the largest is well under 1 MB).
MAX_FIXTURE_BYTES = 64 << 20
GUARANTEES = "inputs bit-exact; torch reference outputs within the fp32 policy; content_sha256 over the cases"


def bits(a: np.ndarray) -> list:
    """float32 values as their uint32 bit patterns: exact in JSON."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).tolist()


def provenance(extra: dict) -> dict:
    """The tools a fixture's bytes can depend on: not the optional ones (an extra's), which it never uses, so
    that it regenerates the same with or without them."""
    from harness.export.manifest import OPTIONAL_TOOLS, tool_versions

    return {"tool_versions": {k: v for k, v in tool_versions().items() if k not in OPTIONAL_TOOLS}, **extra}


def document(kind: str, provenance: dict, cases: list[dict]) -> str:
    """The fixture file's text: provenance with the content's sha256, then one case per line."""
    content = json.dumps(cases, sort_keys=True, separators=(",", ":"))
    provenance = {**provenance, "content_sha256": hashlib.sha256(content.encode()).hexdigest()}
    # One case per line: small files and readable diffs.
    body = ",\n".join("  " + json.dumps(c, sort_keys=True, separators=(",", ":")) for c in cases)
    return (f'{{"kind": {json.dumps(kind)},\n "provenance": '
            f"{json.dumps(provenance, sort_keys=True, indent=2)},\n"
            f' "cases": [\n{body}\n ]}}\n')


def beyond_fp32(stored: np.ndarray, now: np.ndarray) -> str | None:
    """Where `now` leaves the fp32 policy's allowance around a `stored` reference output (None: nowhere).

    Reference outputs computed on two machines differ by float32 rounding (summation order, SIMD
    width, threads): `atol + rtol * |stored|`, unscaled, bounds that (tolerances.FP32's reasoning).
    """
    stored, now = np.ravel(stored), np.ravel(now)
    if stored.shape != now.shape:
        return f"shape {stored.shape} became {now.shape}"
    err = np.abs(stored.astype(np.float64) - now)
    bad = ~(err <= FP32.atol + FP32.rtol * np.abs(stored))  # NaN on either side is beyond it
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return f"position {i}: fixture {stored[i]!r}, now {now[i]!r} (beyond the fp32 policy)"
    return None


def _float32(words) -> np.ndarray | None:
    try:
        return np.array(words, dtype=np.uint32).view(np.float32)
    except (TypeError, ValueError, OverflowError):
        return None


def _kept_outputs(previous: dict | None, provenance: dict, docs: list[dict]) -> list[dict] | None:
    """`docs` with the outputs of `previous` (the fixture as it stands) when it holds the same model and
    inputs and every output of this machine agrees with its stored one under the fp32 policy; else None."""
    if not isinstance(previous, dict) or not isinstance(previous.get("provenance"), dict) \
            or not isinstance(previous.get("cases"), list) or len(previous["cases"]) != len(docs):
        return None
    if any(previous["provenance"].get(k) != provenance[k] for k in ("model", "generator_seed", "weights_sha256")):
        return None
    for old, new in zip(previous["cases"], docs, strict=True):
        if not isinstance(old, dict) or old.get("name") != new["name"] or old.get("inputs") != new["inputs"] \
                or not isinstance(old.get("outputs"), dict) or set(old["outputs"]) != set(new["outputs"]):
            return None
        for name, words in new["outputs"].items():
            stored = _float32(old["outputs"][name])
            if stored is None or beyond_fp32(stored, _float32(words)):
                return None
    return [{**new, "outputs": old["outputs"]} for old, new in zip(previous["cases"], docs, strict=True)]


def _check_finite(spec: ModelSpec, kinds, outputs: dict) -> None:
    """A UsageError naming the first case whose reference output is NaN or infinite: a golden output of NaN holds
    nothing a runtime could be compared with (NaN fails under every policy)."""
    for name, value in outputs.items():
        bad = ~np.isfinite(np.asarray(value, np.float32).reshape(len(value), -1))
        cases = bad.any(axis=1)
        if cases.any():
            k = int(np.flatnonzero(cases)[0])
            raise UsageError(f"model {spec.name!r} gives NaN or infinite values in output {name!r} on "
                             f"{int(cases.sum())} of {len(value)} fixture cases (first: case {kinds[k]}_{k}): "
                             "a golden output of them holds nothing to compare with; fix the model or its inputs")


def model_fixture(spec: ModelSpec, cases: int = MODEL_CASES, seed: int = GENERATOR_SEED,
                  previous: dict | None = None) -> str:
    """`model_<name>.json` for any model: every input and output of `cases` seeded cases.

    Runs the eager model only: exported artifacts are not part of a fixture (their bytes
    depend on converter versions; parity, not a hash, shows a conversion is right). `previous`,
    the fixture as it stands, keeps its outputs where this machine's agree with them (module docstring).
    """
    from harness.backends.pytorch import TorchBackend
    from harness.spec import weights_sha256

    backend = TorchBackend.of(spec)
    made = spec.make_cases(cases, seed)
    outputs = backend.run(made.feeds)
    _check_finite(spec, made.kinds, outputs)
    docs = [{"name": f"{made.kinds[k]}_{k}",
             "inputs": {n: bits(v[k]) for n, v in made.feeds.items()},
             "outputs": {n: bits(v[k]) for n, v in outputs.items()}} for k in range(len(made))]
    extra = {"model": spec.name, "generator_seed": seed, "weights_sha256": weights_sha256(backend.module),
             "weights_source": spec.weights_source, "threshold": spec.threshold, "metadata": dict(spec.metadata),
             "guarantees": GUARANTEES}
    return document(f"model_{spec.name}", provenance(extra), _kept_outputs(previous, extra, docs) or docs)
