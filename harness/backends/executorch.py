"""The ExecuTorch runtime (`executorch.runtime`, the one apps link) on an exported `.pte` program.

Its CPU runtime runs on Linux, so XNNPACK's fp32 and int8 kernels and the portable kernels run here
as on a phone's CPU. A program that will not load or run is one line naming why (the operator the
runtime's log names, or its own error), never the runtime's log.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from harness import files, quiet
from harness.backends.base import Backend
from harness.backends.coreml_emulated import EmulatedCoreMLBackend
from harness.errors import HarnessError, UsageError
from harness.export import EXPORTERS
from harness.export.manifest import Manifest
from harness.pte import planned_batch
from harness.spec import ModelSpec

#: What the runtime's log says of an operator it has no kernel for.
_MISSING = re.compile(r"Missing operator: \[\d+\] (\S+)")
#: What it says of the operator a call failed in (a kernel's, or a delegate's: `executorch_call_delegate`).
_FAILED_IN = re.compile(r"failed at instruction [\d:]+ in operator (\S+?): 0x")
#: Its log lines (`[method.cpp:822] ...`): the source file, and what it says.
_LOG_LINE = re.compile(r"^\[(\w+)\.\w+:\d+\] (.+)$", re.M)
#: Log lines that say nothing of the program (the CPU probe on every load).
_NOISE = frozenset({"cpuinfo_utils"})


class ExecuTorchError(HarnessError):
    """The ExecuTorch runtime refused a program or a call; the message says why in one line."""


class ExecuTorchBackend(Backend):
    name = "executorch"

    def refuses(self, spec: ModelSpec) -> str | None:
        if spec.stateful:
            return (f"model {spec.name!r} keeps state ({', '.join(spec.states)}); the harness runs stateful models "
                    "on torch, coreml-emulated and coreml only (not on ExecuTorch)")
        return None
    precisions = ("fp32", "int8")
    option = "delegate"
    variants = (("fp32", "xnnpack"), ("int8", "xnnpack"), ("fp32", "portable"))
    #: The delegates whose programs this runtime runs here (the CoreML delegate's: `executorch-coreml-emulated`).
    delegates = ("xnnpack", "portable")

    def __init__(self, precision: str = "fp32", delegate: str | None = None):
        super().__init__(precision)
        self.delegate = (delegate or "xnnpack").lower()
        if self.delegate not in self.delegates:
            raise UsageError(f"backend 'executorch' has no delegate {delegate!r}; it takes: {', '.join(self.delegates)}"
                             " (ExecuTorch's CoreML programs run as executorch-coreml-emulated)")
        if (f"executorch-{self.delegate}", precision) not in EXPORTERS:
            raise UsageError(f"executorch@{precision} runs on xnnpack only (the portable kernels run fp32)")

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("executorch") is None:
            return "ExecuTorch is not installed: pip install 'trendsplit-harness[executorch]'"
        return None

    @property
    def target(self) -> tuple[str, str]:
        return f"executorch-{self.delegate}", self.precision

    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None:
        artifact = manifest.artifact(*self.target)
        path = Path(folder) / artifact.path
        self.loaded_weights_sha256 = files.sha256(path)  # the program file it loads, measured, as an app records it
        with quiet.captured() as said:
            try:
                program = quiet.imported("executorch.runtime").Runtime.get().load_program(path)
                self.max_batch = planned_batch(program.metadata("forward"))  # batch as the program allows
                self.method = program.load_method("forward")
            except Exception as err:
                raise ExecuTorchError(_why(f"cannot load {artifact.path}", err, said())) from None
        self.spec = spec

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        inputs = [np.ascontiguousarray(feeds[t.name], dtype=np.float32) for t in self.spec.inputs]
        parts = []
        with quiet.captured() as said:
            for start in range(0, len(inputs[0]), self.max_batch):
                part = [torch.from_numpy(a[start:start + self.max_batch]) for a in inputs]
                try:
                    out = self.method.execute(part)
                except Exception as err:
                    where = f"{self.label} failed on cases {start}-{start + len(part[0]) - 1}"
                    raise ExecuTorchError(_why(where, err, said())) from None
                parts.append([torch.as_tensor(o).numpy().astype(np.float32, copy=True) for o in out])
        return {t.name: np.concatenate([p[i] for p in parts]) for i, t in enumerate(self.spec.outputs)}


def _why(what: str, err: Exception, log: str) -> str:
    """One line, from the runtime's log: the operator it has no kernel for; or the operator a call failed in
    and what its kernel said; else the error and the log's first line."""
    missing = _MISSING.findall(log)
    if missing:
        return f"{what}: the ExecuTorch runtime has no kernel for {', '.join(dict.fromkeys(missing))}"
    said = [(source, line.strip()) for source, line in _LOG_LINE.findall(log) if source not in _NOISE]
    failed_in = _FAILED_IN.search(log)
    kernel = next((line for source, line in said if source.startswith("op_")), "")  # portable kernels: op_*.cpp
    if failed_in:
        return f"{what} in operator {failed_in[1]}" + (f": {kernel[:300]}" if kernel else "")
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    return f"{what}: {type(err).__name__}: {first[:300]}" + (f" ({said[0][1][:200]})" if said else "")


class ExecuTorchCoreMLBackend(EmulatedCoreMLBackend):
    """ExecuTorch's CoreML delegate, as an app on an Apple device runs it: the CoreML program its `.pte`
    embeds, extracted and run by the MIL interpreter under a precision profile (as `coreml-emulated`).

    Only a program the CoreML delegate takes whole: ops left outside it would run on ExecuTorch's portable
    kernels in between, which the MIL program alone does not hold."""

    name = "executorch-coreml-emulated"
    precisions = ("fp16",)
    variants = (("fp16", "fp32"), ("fp16", "fp16-storage"), ("fp16", "fp16"))

    unavailable_reason = ExecuTorchBackend.unavailable_reason
    refuses = ExecuTorchBackend.refuses

    @property
    def target(self) -> tuple[str, str]:
        return "executorch-coreml", self.precision

    def load(self, spec: ModelSpec, manifest: Manifest, folder: Path) -> None:
        from harness.mil import Interpreter, get_profile, load_program
        from harness.pte import PteError, coreml_wiring, extract_coreml

        artifact = manifest.artifact(*self.target)
        left = artifact.details.get("portable_ops", [])
        if left:
            raise ExecuTorchError(f"{artifact.path}: the CoreML delegate left {', '.join(left)} to portable kernels; "
                                  "the emulation runs programs the delegate takes whole")
        path = Path(folder) / artifact.path
        self.loaded_weights_sha256 = files.sha256(path)  # the program file, as an app records it
        extracted = Path(tempfile.mkdtemp(prefix="harness-pte-"))  # lives as long as the backend, then removed
        weakref.finalize(self, shutil.rmtree, extracted, ignore_errors=True)  # (no ResourceWarning at exit)
        self.program = load_program(extract_coreml(path, extracted))
        self.interpreter = Interpreter(self.program, get_profile(self.profile))
        self.spec = spec
        names, outputs = [n for n, _ in self.program.inputs], self.program.main.outputs
        try:  # the delegate orders its inputs and outputs its own way: the program says which is which
            fed, read = coreml_wiring(path, len(names))
        except PteError as err:
            raise ExecuTorchError(str(err)) from None
        if max(fed, default=-1) >= len(spec.inputs) or len(read) != len(spec.outputs):
            raise ExecuTorchError(f"{artifact.path}: its program takes {max(fed, default=-1) + 1} inputs and gives "
                                  f"{len(read)} outputs, model {spec.name!r} {len(spec.inputs)} and "
                                  f"{len(spec.outputs)}")
        model_inputs = [t.name for t in spec.inputs]
        self._inputs = {own: model_inputs[j] for own, j in zip(names, fed, strict=True)}  # delegate's name -> model's
        self._outputs = {t.name: (outputs[i], None) if kind == "delegate" else (None, model_inputs[i])
                         for t, (kind, i) in zip(spec.outputs, read, strict=True)}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.interpreter.run({own: feeds[name] for own, name in self._inputs.items()}).outputs
        return {name: np.array(out[own] if own is not None else feeds[passed], dtype=np.float32)
                for name, (own, passed) in self._outputs.items()}
