"""Task quality on held-out synthetic watch logs: the nets through every backend vs baselines.

Each net is fed the held-out logs in its own encoding version (its spec's metadata) and its
decisions are taken at its spec's declared threshold (`ModelSpec.threshold`). Also
measures the fp16 hazard of the unit of x for each conv net: how many encoded values fall
below float16's smallest normal number when x is in days versus in seconds, and what that
does to fp32 and fp16 decisions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import api
from harness.toolkit import atomic
from trendsplit import baselines, data
from trendsplit.encoding import decode, encode_batch
from trendsplit.metrics import SplitScores, score
from trendsplit.models import check_pairing, encoding_version

EVAL_SEED = 10_000  # held out: training uses seeds 1 and 2 (trendsplit/train.py)
TUNE_SEED = 1  # baselines tune their penalty on training logs
TUNE_LOGS = 300
FP16_SMALLEST_NORMAL = float(np.finfo(np.float16).tiny)  # 6.1e-5
NET_ROWS = {  # model -> backends it is evaluated on
    "trendsplit": ("torch", "onnxruntime", "coreml-emulated@fp16[fp16-storage]", "coreml-emulated@fp16[fp16]"),
    "trendsplit-gru": ("torch", "onnxruntime", "coreml-emulated@fp16[fp16-storage]"),
    "trendsplit-v2": ("torch", "onnxruntime", "coreml-emulated@fp16[fp16-storage]", "coreml-emulated@fp16[fp16]"),
}
UNITS_MODELS = ("trendsplit", "trendsplit-v2")  # the unit-of-x hazard is measured for these
FP32_REF, FP16_REF = "torch@fp32", "coreml-emulated@fp16[fp16-storage]"  # the units measurement


@dataclass(frozen=True)
class Row:
    name: str
    exact: SplitScores
    within_1: SplitScores
    seconds: float
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "exact": self.exact.to_dict(),
            "within_1": self.within_1.to_dict(),
            "seconds": round(self.seconds, 2),
            "note": self.note,
        }


@dataclass
class Evaluation:
    n: int
    seed: int
    rows: list[Row] = field(default_factory=list)
    fp16_units: dict = field(default_factory=dict)

    def table(self) -> str:
        lines = [
            f"{self.n} held-out watch logs (seed {self.seed}); F1 within one index is the headline",
            "",
            f"{'detector':52s} {'P':>6s} {'R':>6s} {'F1':>6s} {'P±1':>6s} {'R±1':>6s} {'F1±1':>6s}",
        ]
        for r in self.rows:
            e, w = r.exact, r.within_1
            lines.append(
                f"{r.name:52s} {e.precision:6.3f} {e.recall:6.3f} {e.f1:6.3f} "
                f"{w.precision:6.3f} {w.recall:6.3f} {w.f1:6.3f}"
            )
        for model, units in self.fp16_units.items():
            lines += ["", f"fp16 hazard: unit of x ({model}, coreml-emulated@fp16[fp16-storage])"]
            for unit, v in units.items():
                lines.append(
                    f"  x in {unit:8s}: {v['subnormal_share']:.1%} of nonzero encoded values below "
                    f"fp16's smallest normal; fp16 vs fp32 decisions agree {v['fp16_agreement']:.2%}; "
                    f"F1±1 fp16 {v['f1_within_1']:.3f}, fp32 {v['f1_within_1_fp32']:.3f}"
                )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "seed": self.seed,
            "rows": [r.to_dict() for r in self.rows],
            "fp16_units": self.fp16_units,
        }

    def write_json(self, path: str | Path) -> Path:
        return atomic.write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _timed(name: str, run: Callable[[], list[list[int]]], truths, note: str = "") -> Row:
    start = time.perf_counter()
    preds = run()
    return Row(name, score(preds, truths), score(preds, truths, 1), time.perf_counter() - start, note)


def probabilities(backend, spec, inputs: np.ndarray) -> np.ndarray:
    """[N, L] split probabilities of a loaded backend, in chunks; inputs of another version are refused."""
    check_pairing(spec, inputs)
    return np.concatenate([backend.predict(inputs[i : i + 256]) for i in range(0, len(inputs), 256)])


def _predictions(backend, spec, inputs: np.ndarray, lengths, threshold: float) -> list[list[int]]:
    probs = probabilities(backend, spec, inputs)
    return [decode(p, int(n), threshold) for p, n in zip(probs, lengths, strict=True)]


def _fp16_units(logs, fp32, fp16, truths, version: int, threshold: float) -> dict:
    """Encode the same logs with x in days and in seconds; compare fp16 with fp32 decisions.

    The share below fp16's smallest normal counts every channel but x (which is in [-0.5, 0.5]
    whatever the unit): y for v1, and y and the steps for v2. Decisions are at the model's threshold.
    """
    out = {}
    for unit, factor in (("days", 1.0), ("seconds", 86_400.0)):
        inputs = encode_batch([log.points * np.array([factor, 1.0]) for log in logs], version)
        lengths = np.array([len(log.points) for log in logs])
        mask = np.arange(inputs.shape[-1])[None, :] < lengths[:, None]
        values = np.abs(inputs[:, 1:].transpose(1, 0, 2)[:, mask])
        nonzero = values[values > 0]
        p32, p16 = fp32.predict(inputs), fp16.predict(inputs)
        read = mask & (np.arange(inputs.shape[-1])[None, :] < (lengths[:, None] - 1))
        preds = [decode(p, int(n), threshold) for p, n in zip(p16, lengths, strict=True)]
        preds32 = [decode(p, int(n), threshold) for p, n in zip(p32, lengths, strict=True)]
        out[unit] = {
            "subnormal_share": float((nonzero < FP16_SMALLEST_NORMAL).mean()) if nonzero.size else 0.0,
            "fp16_agreement": float(((p32 > threshold) == (p16 > threshold))[read].mean()),
            "f1_within_1": score(preds, truths, 1).f1,
            "f1_within_1_fp32": score(preds32, truths, 1).f1,
        }
    return out


def evaluate(
    n: int = 1000,
    seed: int = EVAL_SEED,
    artifacts: str | Path = "artifacts",
    progress: Callable[[str], None] = lambda _m: None,
) -> Evaluation:
    artifacts = Path(artifacts)
    encoded = {1: data.dataset(n, seed)}  # version -> the held-out logs in that encoding
    held_out = encoded[1]
    truths = [log.breaks for log in held_out.logs]
    result = Evaluation(n=n, seed=seed)
    loaded = {}
    for model, refs in NET_ROWS.items():
        spec = api.model(model)
        version = encoding_version(spec)
        if version not in encoded:
            encoded[version] = data.dataset(n, seed, version)
        fed = encoded[version]
        named = {api.backend_label(ref): ref for ref in refs}  # rows are named as the references are written
        for backend in api.backends(spec, refs, artifacts / spec.name, skip_unavailable=True,
                                     progress=progress):
            progress(f"evaluating {model} on {named[backend.label]}")
            loaded[model, backend.label] = backend
            result.rows.append(_timed(
                f"{model} · {named[backend.label]}",
                lambda b=backend, s=spec, f=fed: _predictions(b, s, f.inputs, f.lengths, s.threshold),
                truths,
                note=f"encoding v{version}",
            ))
    cache = artifacts / "tuned-penalties.json"
    for name, detector, penalties in (
        ("brute force (seed post), tuned penalty", baselines.brute_force, baselines.PENALTIES),
        ("PELT (ruptures, linear cost), tuned penalty", baselines.pelt, baselines.PENALTIES),
        ("Binseg (ruptures, linear cost), tuned penalty", baselines.binseg, baselines.PENALTIES),
        ("PELT (linear cost), penalty c ln n, tuned c", baselines.pelt_log_n, baselines.LOG_N_PENALTIES),
        ("PELT on the encoded inputs the nets see", baselines.on_encoded(baselines.pelt),
         baselines.ENCODED_PENALTIES),
    ):
        progress(f"tuning {name}")
        penalty = baselines.tuned(name, detector, TUNE_SEED, TUNE_LOGS, penalties, cache, progress=progress)
        result.rows.append(
            _timed(
                name,
                lambda d=detector, p=penalty: [d(log.points, p) for log in held_out.logs],
                truths,
                note=f"penalty {penalty:.3g}",
            )
        )
    for model in UNITS_MODELS:
        if (model, FP32_REF) in loaded and (model, FP16_REF) in loaded:
            progress(f"measuring the fp16 hazard of x units for {model}")
            spec = api.model(model)
            result.fp16_units[model] = _fp16_units(held_out.logs, loaded[model, FP32_REF], loaded[model, FP16_REF],
                                                   truths, encoding_version(spec), spec.threshold)
    return result
