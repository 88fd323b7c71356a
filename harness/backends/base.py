"""A backend runs one exported artifact (or the eager model) on a float32 batch.

It does one job: `load`, then `predict`. Timing, comparison and reporting happen
outside it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.export.manifest import Manifest
from harness.shapes import Batch
from harness.spec import ModelSpec


class Backend(abc.ABC):
    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    #: The one option a reference can set in brackets, e.g. coreml@fp16[CPU_ONLY].
    option: ClassVar[str | None] = None
    #: What a bare name expands to: (precision, option value or None for the default).
    variants: ClassVar[tuple[tuple[str, str | None], ...]] = (("fp32", None),)
    #: After `load`, the sha256 of the CoreML weights it loaded (`harness.mlpackage.weights_sha256`) or of the
    #: ExecuTorch program file, measured, so a results file says what ran; "" for a backend that loads neither.
    loaded_weights_sha256: str = ""
    #: Named by the user (not only in the default list): a model it `refuses` is then a usage error, not a skip.
    named: bool = True

    def __init__(self, precision: str = "fp32"):
        self.precision = precision

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this backend cannot run on this machine, or None when it can."""
        return None

    def refuses(self, spec: ModelSpec) -> str | None:
        """Why this backend cannot run `spec` at all (wherever it runs), or None when it can."""
        return None

    @property
    def target(self) -> tuple[str, str] | None:
        """The export target (format, precision) it runs when that is not one every export holds, else None."""
        return None

    @property
    def label(self) -> str:
        """The reference that recreates this backend: name@precision[option]."""
        if self.option:
            return f"{self.name}@{self.precision}[{getattr(self, self.option)}]"
        return f"{self.name}@{self.precision}"

    @abc.abstractmethod
    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None: ...

    @abc.abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Input name -> batch, to output name -> batch."""

    def run_measured(self, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """`run`, and per case the magnitude the model's layers saw where this backend can tell (else None):
        as the reference, that sets every other backend's allowance (`compare`)."""
        return self.run(feeds), None

    def predict(self, batch: np.ndarray | dict[str, np.ndarray]):
        """A single-input model's batch to its single output; or feeds to outputs, as `run`."""
        if isinstance(batch, dict):
            return self.run(batch)
        (name,) = [t.name for t in self.spec.inputs]
        outputs = self.run({name: batch})
        if len(outputs) != 1:
            raise ValueError(f"{self.label}: the model has {len(outputs)} outputs; call run()")
        return next(iter(outputs.values()))


def in_batches(batch: Batch, feeds: dict[str, np.ndarray], run) -> dict[str, np.ndarray]:
    """`run(feeds)` on the cases in batches an export declared as `batch` accepts (`Batch.slices`): a batch
    the cases left cannot fill is padded with repeats of its last case, whose outputs are dropped."""
    parts: list[dict[str, np.ndarray]] = []
    for start, stop, size in batch.slices(len(next(iter(feeds.values())))):
        index = slice(start, stop) if size == stop - start else np.minimum(np.arange(start, start + size), stop - 1)
        out = run({name: np.ascontiguousarray(value[index]) for name, value in feeds.items()})
        parts.append({name: np.asarray(value)[:stop - start] for name, value in out.items()})
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]} if parts else run(feeds)


def in_sequences(steps: int, feeds: dict[str, np.ndarray], start: Callable[[], Any],
                 call: Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A stateful model's cases, each a sequence: `feeds` hold per case (steps, batch, ...); for each case
    `start()` gives a state at the model's initial values and `call(state, one call's feeds)` runs one call,
    updating it. The outputs per case are every call's, in order: (cases, steps, batch, ...)."""
    cases = []
    for i in range(len(next(iter(feeds.values())))):
        state = start()
        calls = [call(state, {name: np.ascontiguousarray(value[i, k]) for name, value in feeds.items()})
                 for k in range(steps)]
        cases.append({name: np.stack([np.asarray(c[name]) for c in calls]) for name in calls[0]})
    return {name: np.stack([c[name] for c in cases]) for name in cases[0]}
