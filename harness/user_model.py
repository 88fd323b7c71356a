"""A user's model: described in Python (`describe`), or loaded from `path/to/file.py:name` (`load`).

Both give a `ModelSpec`, checked on the spot (declared shapes, `make_inputs`), so a mistake is named
before a minute of exporting. Model lookup (`harness.models`, the zoo) and the public API both use it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from harness import files, targets
from harness.errors import HarnessError, UsageError
from harness.exact_random import ExactGenerator
from harness.spec import STATE_TARGET, Cases, ModelSpec, TensorSpec, seeded_init

#: Calls per case of a stateful model unless `describe(..., steps=)` says.
DEFAULT_STEPS = 4


def _tensors(given) -> tuple[TensorSpec, ...]:
    if isinstance(given, Mapping):
        return tuple(TensorSpec(name, tuple(shape)) for name, shape in given.items())
    return tuple(given)


def _gaussian(specs: tuple[TensorSpec, ...]) -> Callable[[np.random.Generator, int], dict[str, np.ndarray]]:
    def make(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        return {t.name: rng.normal(size=(n, *t.shape[1:])).astype(np.float32) for t in specs}

    return make


def describe(name: str, model: torch.nn.Module | Callable[[], torch.nn.Module], *,
             inputs: Mapping[str, Sequence[int | None]] | Sequence[TensorSpec],
             outputs: Mapping[str, Sequence[int | None]] | Sequence[TensorSpec],
             make_inputs: Callable[[np.random.Generator, int], dict[str, np.ndarray]] | None = None,
             decision: str = "none", threshold: float = 0.5, decision_output: str | None = None,
             policy: str | None = None, description: str = "", weights_source: str = "user model",
             trained: bool = True, metadata: Mapping[str, str] | None = None,
             frontend: str = "trace", target: str | None = None, batch: object = None,
             states: Sequence[str] = (), steps: int | None = None) -> ModelSpec:
    """Describe a model for the harness.

    `model`: a module, or a factory returning one (called for every build). `inputs`/`outputs`:
    name -> shape with `None` for the batch dimension, in the order `forward` takes and returns
    them. `make_inputs(rng, n)`: realistic input batches (default: standard normal).
    `decision`: how the app reads `decision_output` ("threshold", "argmax" or "none").
    `policy`: a named tolerance policy for every pair (default: by precision).
    `metadata`: strings that travel into the exports (e.g. the input encoding version).
    `frontend`: how the model reaches coremltools, "trace" (torch.jit.trace) or "export" (torch.export).
    `target`: the oldest iOS the app ships to (`iOS15` .. `iOS18`), which sets the ops the CoreML export may use.
    `batch`: the batch sizes the CoreML export accepts: flexible 1..1024 (default), a size (`4`), sizes
    (`(1, 8, 32)`) or a range (`range(1, 65)`, `"1..64"`); some ops convert only with a fixed batch.
    `states`: the registered buffers `forward` updates and the next call reads (a running mean, a KV cache); a
    stateful model is exported with Core ML states (target iOS18 unless named, batch 1 unless declared: a state's
    shape is fixed), and each case is `steps` consecutive calls (default 4) from the buffers' initial values;
    `make_inputs(rng, n)` is then asked for cases x steps x batch rows, in that order.
    The model is run once on declared-shape inputs, so a wrong shape fails here, by name.
    """
    ins, outs = _tensors(inputs), _tensors(outputs)
    make = make_inputs or _gaussian(ins)
    states = (states,) if isinstance(states, str) else tuple(states)
    if target is None:
        target = STATE_TARGET if states else targets.DEFAULT
    if states and batch is None:
        batch = 1
    steps = (DEFAULT_STEPS if states else 1) if steps is None else steps

    def build() -> torch.nn.Module:
        module = model() if not isinstance(model, torch.nn.Module) else model
        return module.eval()

    def make_cases(count: int, seed: int) -> Cases:
        feeds = _checked_inputs(make, ins, count * calls, seed)
        if states:  # rows in the order case, call, batch row: each case a sequence of calls
            feeds = {t.name: feeds[t.name].reshape(count, *spec.case_shape(t)) for t in ins}
        return Cases(feeds=feeds, decision_mask=None, kinds=("generated",) * count, raw=(), seed=seed)

    spec = ModelSpec(name=name, description=description or name, build=build, inputs=ins, outputs=outs,
                     make_cases=make_cases, threshold=threshold, weights_source=weights_source, trained=trained,
                     decision=decision, decision_output=decision_output, policy=policy, metadata=metadata or {},
                     frontend=frontend, target=target, batch=batch, states=states, steps=steps)
    calls = spec.steps * spec.batch.default if states else 1  # rows make_inputs gives per case
    spec.check_module(build())  # the declared shapes are promises: hold the model to them now
    _check_seeded(make_cases(PROBE_CASES, 0), make_cases(PROBE_CASES, 0))  # and so is make_inputs: named here
    return spec


def _check_seeded(first: Cases, again: Cases) -> None:
    """A UsageError when `make_inputs` gave other inputs for the same seed: a failing case is re-made from its seed
    (localize, --explain, fixtures, a results file's inputs sha256), so a generator that ignores its `rng`
    (np.random.*, torch.rand) would have them look at other cases than the ones judged."""
    for name, value in first.feeds.items():
        if not np.array_equal(value, again.feeds[name], equal_nan=True):
            raise UsageError(f"make_inputs(rng, {len(value)}) gave other inputs for the same seed ({name} changed "
                             "between two calls): draw every random number from the rng it is given (np.random.* and "
                             "torch.rand ignore the harness's seed), so that a case can be made again from its seed")


#: A model file is Python source: kilobytes. Anything larger is not one.
MAX_MODEL_SOURCE_BYTES = 16 << 20

#: Cases `describe` asks `make_inputs` for, to check what it returns before any work.
PROBE_CASES = 2


def _checked_inputs(make, ins: tuple[TensorSpec, ...], count: int, seed: int) -> dict[str, np.ndarray]:
    """`make(rng, count)` as float32 feeds, or a UsageError naming what it got wrong (in one line)."""
    try:
        feeds = make(ExactGenerator(seed), count)
    except HarnessError:
        raise
    except Exception as err:  # the user's function: say where it broke
        raise UsageError(f"make_inputs(rng, {count}) failed: {type(err).__name__}: {err}") from err
    if not isinstance(feeds, Mapping):
        raise UsageError(f"make_inputs must return a dict of input name -> array, got {type(feeds).__name__}")
    missing = {t.name for t in ins} - set(feeds)
    if missing:
        raise UsageError(f"make_inputs returned no {', '.join(sorted(missing))}")
    out = {}
    for t in ins:
        try:
            value = np.asarray(feeds[t.name], np.float32)
        except (TypeError, ValueError) as err:
            raise UsageError(f"make_inputs gave {t.name} values that are not numbers ({err})") from None
        if value.ndim == 0 or value.shape[1:] != tuple(t.shape[1:]) or len(value) != count:
            raise UsageError(f"make_inputs gave {t.name} shape {value.shape}, expected {(count, *t.shape[1:])}")
        out[t.name] = value
    return out


def seeded(cls: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """`cls()` with PyTorch's default init drawn exactly from `seed`: the same weights on every machine."""
    return seeded_init(cls, seed)


def load(reference: str) -> ModelSpec:
    """`path/to/file.py:name` -> the ModelSpec `name` is, or that `name()` returns."""
    path, _, attr = reference.rpartition(":")
    if not path.endswith(".py") or not attr:
        raise UsageError(f"a model reference is path/to/file.py:factory, got {reference!r}")
    file = Path(path)
    source = files.read_bytes(file, limit=MAX_MODEL_SOURCE_BYTES)  # a regular file, not a FIFO that never ends
    module_spec = importlib.util.spec_from_file_location(f"harness_user_model_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    beside = str(file.resolve().parent)
    if beside not in sys.path:  # as `python path/to/file.py` would: the file's own helpers import from any folder
        sys.path.insert(0, beside)
    try:
        exec(compile(source, str(file), "exec"), module.__dict__)  # the bytes read, not the path again
    except HarnessError:
        raise
    except Exception as err:  # the user's file: say where it broke, in one line
        raise UsageError(f"importing {file} failed: {type(err).__name__}: {err}") from err
    found = getattr(module, attr, None)
    if found is None:
        raise UsageError(f"{file} has no {attr!r}")
    try:
        spec = found if isinstance(found, ModelSpec) else found() if callable(found) else found
    except HarnessError:
        raise
    except Exception as err:
        raise UsageError(f"{reference}() failed: {type(err).__name__}: {err}") from err
    if not isinstance(spec, ModelSpec):
        raise UsageError(f"{reference} is {type(spec).__name__}, not a model from harness.describe "
                         "(name a ModelSpec, or a function returning one)")
    _note_beside(file.resolve().parent)  # after the factory and the model's first build: their imports too
    return spec


#: Top-level modules that model files imported from their own folders (`beside`).
_BESIDE: set[str] = set()


def _note_beside(folder: Path) -> None:
    """Remember the top-level modules imported from `folder` (a model file's) that no installed distribution
    provides: the file's own helpers, which a cluster's workers on other machines cannot import, so they travel
    with the model by value (`harness.cluster.parity.packed`)."""
    found = []
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if "." in name or not where:
            continue
        path = Path(where).resolve()
        if (path.parent.parent if path.name == "__init__.py" else path.parent) == folder:
            found.append(name)
    if found:
        installed = importlib.metadata.packages_distributions()
        _BESIDE.update(name for name in found if name not in installed)


def beside() -> tuple[str, ...]:
    """The modules model files loaded here imported from their own folders, by name."""
    return tuple(sorted(_BESIDE))
