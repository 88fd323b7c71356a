"""What the harness needs to know about a model, in one record, validated when it is made.

`ModelSpec` is the harness's central type: the built-in models and users' own models are
all described this way, and every check of the description happens here, once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from harness import shapes, targets
from harness.errors import UsageError
from harness.exact_random import ExactGenerator, exact_torch_draws
from harness.records import Cases
from harness.results import MAX_STEPS

#: How an app turns outputs into decisions: "threshold" (p > threshold, per element),
#: "argmax" (the class along the last axis), or "none" (numbers only).
DECISIONS = ("threshold", "argmax", "none")

#: How a model reaches coremltools: "trace" (torch.jit.trace, the classic path) or "export"
#: (torch.export, which coremltools 9 also converts; it keeps shapes symbolic and handles
#: modules whose eval-mode fast paths change the traced graph between calls).
FRONTENDS = ("trace", "export")

#: The first deployment target whose programs hold state (`ct.StateType`, read_state/write_state).
STATE_TARGET = "iOS18"

#: A model's name becomes a folder and file name: one safe path component, nothing more.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: object, what: str = "model name") -> str:
    """`name` if it is one safe path component (letters, digits, `.`, `_`, `-`); else UsageError."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise UsageError(f"{what} {name!r} is not allowed: use 1-100 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit (it names folders and files)")
    return name


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor at the model boundary; `None` in `shape` is the batch dimension."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))

    def check(self, what: str) -> None:
        if not isinstance(self.name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.name):
            raise UsageError(f"{what} name {self.name!r} is not an identifier (CoreML feature names must be)")
        shape = self.shape
        if (not shape or shape[0] is not None
                or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape[1:])):
            raise UsageError(f"{what} {self.name!r} has shape {shape}: the first (batch) dimension must be None "
                             "and every other dimension a fixed positive integer")
        if self.dtype != "float32":
            raise UsageError(f"{what} {self.name!r} is {self.dtype}: only float32 tensors are supported")

    def example(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros([batch if d is None else d for d in self.shape], dtype=getattr(torch, self.dtype))


@dataclass(frozen=True)
class ModelSpec:
    """A model the harness can export and check: how to build it, its contract, and how an app
    reads its output. Validated on construction, so no layer below has to check it again."""

    name: str
    description: str
    build: Callable[[], torch.nn.Module]  # returns the model in eval mode with its weights
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    make_cases: Callable[[int, int], Cases]  # (count, seed) -> cases
    threshold: float = 0.5  # with decision "threshold": an output above it is a positive decision
    weights_source: str = "as built"  # e.g. "seeded random init (seed 0, drawn exactly), untrained"
    trained: bool = False
    decision: str = "threshold"
    decision_output: str | None = None  # which output the app decides on (default: the first)
    policy: str | None = None  # judge every pair by this named policy (default: by precision)
    #: What travels with the model into its exports (CoreML metadata, manifest), e.g. the
    #: input encoding version an app must pair it with. Strings only, as CoreML stores them.
    metadata: Mapping[str, str] = field(default_factory=dict)
    frontend: str = "trace"  # see FRONTENDS
    #: The oldest iOS the app ships the CoreML export to (`harness.targets`): it sets the ops the converter may use.
    target: str = targets.DEFAULT
    #: The batch sizes the CoreML export accepts (`harness.shapes`): flexible 1..1024 unless declared (a size,
    #: sizes, a range; given as `shapes.parse` reads them).
    batch: shapes.Batch = shapes.FLEXIBLE
    #: MIL value names (`var_54`, as `harness.mil.localize` names them) whose ops an fp16 export keeps in
    #: float32: what `python -m harness advise` recommends, applied (`api.apply_advice`).
    fp32_ops: frozenset[str] = frozenset()
    #: Registered buffers that `forward` updates and the next call reads (a running statistic, a KV cache): the
    #: model's state, which Core ML keeps across predictions from iOS18 (`ct.StateType`). Empty: stateless.
    states: tuple[str, ...] = ()
    #: Calls per case of a stateful model: each case is this many consecutive calls from the buffers' initial values.
    steps: int = 1

    def __post_init__(self):
        check_name(self.name)
        object.__setattr__(self, "target", targets.check(self.target))
        object.__setattr__(self, "batch", shapes.parse(self.batch))
        object.__setattr__(self, "states", tuple(self.states))
        self._check_states()
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        for what, tensors in (("input", self.inputs), ("output", self.outputs)):
            if not tensors:
                raise UsageError(f"model {self.name!r} needs at least one {what}")
            for t in tensors:
                if not isinstance(t, TensorSpec):
                    raise UsageError(f"model {self.name!r}: {what} {t!r} is not a TensorSpec")
                t.check(what)
        names = [t.name for t in self.inputs + self.outputs]
        if len(set(names)) != len(names):
            raise UsageError(f"model {self.name!r}: input and output names must be distinct, got {names}")
        if self.batch.kind == "enumerated" and len(self.inputs) > 1 and targets.TARGETS.index(self.target) < 3:
            raise UsageError(f"model {self.name!r}: coremltools enumerates the shapes of one input only before iOS18, "
                             f"and this model has {len(self.inputs)}: declare a range or a fixed batch, or target "
                             "iOS18")
        if self.frontend not in FRONTENDS:
            raise UsageError(f"unknown frontend {self.frontend!r}; known: {', '.join(FRONTENDS)}")
        if self.decision not in DECISIONS:
            raise UsageError(f"unknown decision {self.decision!r}; known: {', '.join(DECISIONS)}")
        if self.decision_output is not None and self.decision_output not in [t.name for t in self.outputs]:
            raise UsageError(f"decision_output {self.decision_output!r} is not an output "
                             f"({', '.join(t.name for t in self.outputs)})")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float) \
                or not math.isfinite(self.threshold):
            raise UsageError(f"threshold must be a finite number, got {self.threshold!r}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(self.metadata).items()):
            raise UsageError(f"model {self.name!r}: metadata must map strings to strings")
        object.__setattr__(self, "metadata", dict(self.metadata))

    def _check_states(self) -> None:
        if not all(isinstance(s, str) and s for s in self.states) or len(set(self.states)) != len(self.states):
            raise UsageError(f"model {self.name!r}: states must be distinct buffer names, got {list(self.states)}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= MAX_STEPS:
            raise UsageError(f"model {self.name!r}: steps (calls per case) must be a whole number from 1 to "
                             f"{MAX_STEPS}, got {self.steps!r:.40}")
        if not self.states:
            if self.steps != 1:
                raise UsageError(f"model {self.name!r} declares {self.steps} steps but no states: a sequence of "
                                 "calls means something only to a model that keeps state (name its buffers)")
            return
        if targets.TARGETS.index(self.target) < targets.TARGETS.index(STATE_TARGET):
            raise UsageError(f"model {self.name!r} keeps state ({', '.join(self.states)}): Core ML holds state "
                             f"from {STATE_TARGET}, and the target is {self.target}: declare target={STATE_TARGET!r} "
                             f"(--target {STATE_TARGET})")
        if self.frontend != "trace":
            raise UsageError(f"model {self.name!r} keeps state ({', '.join(self.states)}): its Core ML states are "
                             "converted from a TorchScript trace here; use frontend='trace'")
        if self.batch.kind != "fixed":
            raise UsageError(f"model {self.name!r} keeps state ({', '.join(self.states)}), and a Core ML state has "
                             f"a fixed shape, so its batch must be fixed, not {self.batch.describe()}: declare "
                             f"batch={self.batch.default} (--batch {self.batch.default})")

    @property
    def stateful(self) -> bool:
        return bool(self.states)

    def one_call_at_a_time(self, what: str) -> None:
        """A UsageError for `what` (a step that runs the program on single calls, without state) on a stateful
        model: named in one line instead of failing deep in the interpreter."""
        if self.stateful:
            raise UsageError(f"{what} runs the program one call at a time, without state; model {self.name!r} keeps "
                             f"state ({', '.join(self.states)}): run parity, which judges its sequences call by call")

    def case_shape(self, tensor: TensorSpec) -> tuple[int, ...]:
        """One case of `tensor` as the harness holds it: the declared shape without the batch; for a stateful
        model, (steps, batch, rest): every call of the case's sequence."""
        rest = tuple(tensor.shape[1:])
        return (self.steps, self.batch.default, *rest) if self.stateful else rest

    def deployed(self, target: str | None = None, batch: object = None) -> ModelSpec:
        """This model exported for `target` and with `batch` declared (each None: as described). A stateful model
        asked for another batch is run at it first: its buffers have the batch it was described with, and a forward
        that cannot take the new one is named here, in one line, before anything traces it."""
        changes = {k: v for k, v in (("target", target), ("batch", batch)) if v is not None}
        deployed = dataclasses.replace(self, **changes) if changes else self
        if self.stateful and deployed.batch != self.batch:
            deployed.check_module(deployed.build())
        return deployed

    @property
    def decided_output(self) -> str:
        return self.decision_output or self.outputs[0].name

    def examples(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        return tuple(t.example(batch) for t in self.inputs)

    def check_module(self, module: torch.nn.Module) -> None:
        """Run `module` once on declared-shape inputs: the declared shapes are promises.

        A wrong input shape names the input and the layer that refused it; a wrong output
        shape names the output. Both before any converter sees the model.
        """
        check_contract(self, module)


def _innermost_layer(module: torch.nn.Module) -> Callable[[], str | None]:
    """Hooks that remember which submodule was running when a forward pass failed."""
    stack: list[str] = []
    names = {id(m): name for name, m in module.named_modules() if name}

    def enter(m, _args):
        stack.append(f"{names[id(m)]} ({type(m).__name__})")

    def leave(_m, _args, _out):
        stack.pop()

    handles = []
    for m in module.modules():
        if id(m) in names:
            handles += [m.register_forward_pre_hook(enter), m.register_forward_hook(leave)]

    def result() -> str | None:
        for h in handles:
            h.remove()
        return stack[-1] if stack else None

    return result


def state_buffers(spec: ModelSpec, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's buffers that `spec.states` names (in that order), or a UsageError naming one that is not a
    float buffer of the module."""
    buffers = dict(module.named_buffers())
    out = {}
    for name in spec.states:
        value = buffers.get(name)
        if value is None:
            known = ", ".join(buffers) or "none"
            raise UsageError(f"model {spec.name!r}: state {name!r} is not a registered buffer of the module "
                             f"(its buffers: {known}); register it with self.register_buffer({name!r}, ...)")
        if not value.is_floating_point():
            raise UsageError(f"model {spec.name!r}: state {name!r} is {value.dtype}; Core ML states are float "
                             "(stored as float16)")
        out[name] = value
    return out


def coreml_state_name(name: str) -> str:
    """The name a converted program gives the state of buffer `name`: coremltools' name sanitizer's (every character
    outside [a-zA-Z0-9_] an underscore, so a submodule's `attn.keys` is `attn_keys`; a leading digit prefixed, a
    reserved word suffixed)."""
    from harness.quiet import coremltools

    coremltools()
    from coremltools.converters.mil.mil.passes.defs.preprocess import NameSanitizer

    return NameSanitizer().sanitize_name(name)


def initial_values(spec: ModelSpec, module: torch.nn.Module) -> dict[str, np.ndarray]:
    """The state buffers' values as float32 arrays, by the program's state names: what an app writes into a fresh
    Core ML state (which starts at zeros) before a sequence's first call."""
    return {coreml_state_name(name): b.detach().cpu().float().numpy().copy()
            for name, b in state_buffers(spec, module).items()}


@contextmanager
def initial_state(spec: ModelSpec, module: torch.nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """The state buffers' values now (yielded, copied), put back on leaving: a call inside (the contract check,
    a trace, a sequence of calls) leaves the module as it was, so every sequence starts from the registered
    initial values."""
    buffers = state_buffers(spec, module)
    kept = {name: b.detach().clone() for name, b in buffers.items()}
    try:
        yield {name: v.clone() for name, v in kept.items()}
    finally:
        with torch.no_grad():
            for name, b in buffers.items():
                b.copy_(kept[name])


def _restore_buffers(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> list[str]:
    """Put every buffer back to its value in `before`; the names of those a call had changed."""
    moved = []
    with torch.no_grad():
        for name, b in module.named_buffers():
            if name in before and not torch.equal(b, before[name]):
                moved.append(name)
                b.copy_(before[name])
    return moved


def check_contract(spec: ModelSpec, module: torch.nn.Module) -> None:
    """See `ModelSpec.check_module`. Run at a batch of 2 (a batch dimension squeezed away would hide at 1) and of 1
    (what the export traces and an app predicts: a batch size written into a reshape, or batch statistics, fail
    there), whatever the batch declared, which only the Core ML export follows; a stateful model at its fixed batch."""
    state_buffers(spec, module)  # a state that is no buffer is named as such, not as a failing forward
    if spec.stateful:
        _check_at(spec, module, spec.batch.default)
        return
    for batch in (2, 1):
        try:
            _check_at(spec, module, batch)
        except _ForwardFailed as err:
            if spec.batch.accepts(batch) or not _runs_at(spec, module, spec.batch.default):
                raise
            raise UsageError(f"model {spec.name!r} runs with {spec.batch.describe()}, as declared, but not at a batch "
                             f"of {batch}{err.where}: {err.detail}; only the Core ML export is held to the declaration "
                             "(the torch reference and the ONNX and ExecuTorch exports take any batch): read the batch "
                             "size from the input (x.shape[0]) rather than writing it") from None


class _ForwardFailed(UsageError):
    """The model's forward raised on zeros of the declared shapes; `detail` is its first line, `where` its layer."""

    def __init__(self, message: str, detail: str, where: str):
        super().__init__(message)
        self.detail, self.where = detail, where


def _runs_at(spec: ModelSpec, module: torch.nn.Module, batch: int) -> bool:
    try:
        _check_at(spec, module, batch)
    except UsageError:
        return False
    return True


def _check_at(spec: ModelSpec, module: torch.nn.Module, batch: int) -> None:
    examples = spec.examples(batch)
    innermost = _innermost_layer(module)
    before = {name: b.detach().clone() for name, b in module.named_buffers()}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = module(*examples)
            finally:
                moved = _restore_buffers(module, before)
    except Exception as err:
        layer = innermost()
        declared = ", ".join(f"{t.name} {t.shape}" for t in spec.inputs)
        where = f" in layer {layer}" if layer else ""
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _ForwardFailed(f"model {spec.name!r} fails on zeros of the declared shapes ({declared}) at a batch of "
                             f"{batch}{where}: {detail} (the harness traces and checks it with zeros: a model must "
                             "take them, e.g. a length or mask input read as at least 1)", detail, where) from None
    innermost()
    undeclared = [name for name in moved if name not in spec.states]
    if undeclared:
        raise UsageError(f"model {spec.name!r} updates buffer(s) {', '.join(undeclared)} in forward without declaring "
                         "them as state: a converter bakes their initial values in while torch's move on every call; "
                         f"declare states={(*spec.states, *undeclared)!r} (a Core ML state, iOS18), or stop updating "
                         "them")
    got = out if isinstance(out, tuple | list) else (out,)
    if len(got) != len(spec.outputs):
        raise UsageError(f"model {spec.name!r} returns {len(got)} output(s); {len(spec.outputs)} declared "
                         f"({', '.join(t.name for t in spec.outputs)})")
    for t, value in zip(spec.outputs, got, strict=True):
        if not isinstance(value, torch.Tensor):
            raise UsageError(f"output {t.name!r} of model {spec.name!r} is a {type(value).__name__}, not a tensor")
        expected = tuple(batch if d is None else d for d in t.shape)
        if tuple(value.shape) != expected:
            actual = (None, *value.shape[1:]) if value.ndim and value.shape[0] == batch else tuple(value.shape)
            raise UsageError(f"output {t.name!r} of model {spec.name!r} is declared {t.shape} but the model returns "
                             f"{actual}")
        if value.dtype != torch.float32:
            raise UsageError(f"output {t.name!r} of model {spec.name!r} is {value.dtype}, declared float32")


def seeded_init(cls: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """`cls()` with the distributions of its init (PyTorch's defaults, kaiming, xavier, ...) drawn
    from `seed` exactly, so the weights and their sha256 are the same on every machine
    (`harness.exact_random`); torch's global generator is left as it was."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)  # for any random op the exact draws leave to torch
        with exact_torch_draws(ExactGenerator(seed)):
            module = cls()
    finally:
        torch.random.set_rng_state(state)
    return module.eval()


def weights_sha256(module: torch.nn.Module) -> str:
    """Content hash of a module's parameters and buffers (name, dtype, shape, bytes), in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


_CLASS_PATH = re.compile(r"__torch__\.(?:\w+\.)+(?=\w+\b(?!\.))")


def model_fingerprint(spec: ModelSpec, module: torch.nn.Module) -> str:
    """Hash of what an export depends on: the weights, the traced graph (code changes too) and how it is
    exported (frontend, deployment target, declared batch)."""
    with warnings.catch_warnings(), torch.no_grad(), initial_state(spec, module):
        warnings.simplefilter("ignore")
        graph = torch.jit.trace(module, spec.examples(batch=spec.batch.default if spec.stateful else 1),
                                check_trace=False).inlined_graph
    # Drop source locations, the per-process mangling counter of traced class names and the modules
    # classes live in: one model imported as a package module or loaded from its file is one export.
    text = "\n".join(_CLASS_PATH.sub("__torch__.", re.sub(r"___torch_mangle_\d+\.", "", line.split("#")[0].rstrip()))
                     for line in str(graph).splitlines())
    how = f"frontend {spec.frontend}\ntarget {spec.target}\nbatch {spec.batch}"
    kept = f"\nfp32 ops {sorted(spec.fp32_ops)}" if spec.fp32_ops else ""  # unchanged for every model without any
    kept += f"\nstates {list(spec.states)}" if spec.stateful else ""
    return hashlib.sha256(f"{weights_sha256(module)}\n{how}{kept}\n{text}".encode()).hexdigest()


def built(spec: ModelSpec) -> ModelSpec:
    """`spec` with its module built once: the staleness check, the export and the torch backend
    then share that module instead of each building (and loading weights) again."""
    module = spec.build()
    return dataclasses.replace(spec, build=lambda: module)
