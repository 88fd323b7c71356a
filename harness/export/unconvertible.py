"""Which torch op, in which module, a converter failed on: read from the converter's own traceback.

A converter's error speaks of its own insides ("Cannot add const (64, is0)" is coremltools lowering
`torch.fft.rfft` on a flexible batch). While it converts, coremltools holds the torch node it is on
(`node` in its frontend), the torch.fx node it reads (torch.export frontend), or, in its later passes,
the MIL op, which carries the torch module and op it came from (`scopes`). The innermost of these in
the traceback is the op that failed; what it names is the user's own model, so the user can act.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from types import TracebackType

#: What a user can do about an op a converter cannot handle, after the op and module are named.
ADVICE = ("replace it with ops the converter supports, or keep it out of the exported graph (compute it before the "
          "model's inputs or after its outputs, in the app)")


@dataclass(frozen=True)
class FailedOp:
    op: str  # torch's name for it: `aten::histc`, or the TorchScript kind `fft_rfft`
    module: str = ""  # the module's path in the model (`block.1`); "" for the model's own forward
    module_type: str = ""  # its class (`Inner`)
    source: str = ""  # `file.py:9` where the torch.export frontend recorded it

    def describe(self) -> str:
        where = f"module {self.module!r}" if self.module else "the model's own forward"
        return (f"torch op {self.op!r} in {where}" + (f" ({self.module_type})" if self.module_type else "")
                + (f" at {self.source}" if self.source else ""))


def failed_op(err: BaseException) -> FailedOp | None:
    """The torch op a converter was on when `err` was raised (its cause and context included), or None."""
    if "coremltools" not in sys.modules and "torch" not in sys.modules:
        return None
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        for local in reversed(_frames_locals(err.__traceback__)):  # innermost first
            for value in local:
                found = _read(value)
                if found is not None:
                    return found
        err = err.__cause__ or err.__context__
    return None


def _frames_locals(tb: TracebackType | None) -> list[list]:
    out = []
    while tb is not None:
        out.append(list(tb.tb_frame.f_locals.values()))
        tb = tb.tb_next
    return out


def _read(value) -> FailedOp | None:
    kind = type(value).__name__
    if kind == "InternalTorchIRNode":
        return _torch_node(value)
    if kind == "Node" and type(value).__module__ == "torch.fx.node":
        return _fx_node(value)
    if hasattr(value, "scopes") and hasattr(value, "op_type"):
        return _mil_op(value)
    return None


def _torch_node(node) -> FailedOp | None:
    """coremltools' node of the torch graph: TorchScript (`model_hierarchy`) or torch.export (`meta`)."""
    meta = getattr(node, "meta", None) or {}
    if meta:
        return _from_meta(str(node.kind), meta)
    names, types = node.get_scope_info()
    return FailedOp(str(node.kind), ".".join(names[:-1]), types[-2] if len(types) > 1 else "")


def _fx_node(node) -> FailedOp | None:
    if node.op != "call_function":
        return None
    target = str(node.target)  # ExecuTorch's edge ops print as `<EdgeOpOverload: aten.erfinv.default>: schema = ...`
    if target.startswith("<EdgeOpOverload: "):
        target = target.removeprefix("<EdgeOpOverload: ").split(">", 1)[0]
    return _from_meta(op_name(target), node.meta)


def _from_meta(op: str, meta) -> FailedOp:
    stack = meta.get("nn_module_stack") or {}
    path, cls = list(stack.values())[-1] if stack else ("", "")
    cls = cls.__name__ if isinstance(cls, type) else str(cls).rsplit(".", 1)[-1]
    return FailedOp(op, str(path), cls if path else "", _source(meta.get("stack_trace") or ""))


def _mil_op(op) -> FailedOp | None:
    """A MIL op made from a torch node: its scopes name the module path and types, the torch op last."""
    scopes = {getattr(k, "name", str(k)): list(v) for k, v in dict(op.scopes).items()}
    types, names = scopes.get("TORCHSCRIPT_MODULE_TYPE", []), scopes.get("TORCHSCRIPT_MODULE_NAME", [])
    if types:
        return FailedOp(str(types[-1]), ".".join(map(str, names[:-1])), str(types[-2]) if len(types) > 1 else "")
    traces = [t for t in scopes.get("EXIR_STACK_TRACE", []) if t]
    if traces:
        return FailedOp(f"{op.op_type} (MIL)", source=_source(traces[-1]))
    return None


def op_name(target: str) -> str:
    """`aten.histc.default` -> `aten::histc`."""
    parts = target.split(".")
    return f"{parts[0]}::{parts[1]}" if len(parts) >= 2 and parts[0] in ("aten", "prims", "quantized") else target


def _source(stack_trace: str) -> str:
    """The last `File "x.py", line 9` of a recorded stack: where the user's code made the op."""
    found = re.findall(r'File "([^"]+)", line (\d+)', stack_trace)
    if not found:
        return ""
    file, line = found[-1]
    return f"{file}:{line}"
