"""Execute a MIL `Program` in numpy, op by op, under a precision profile."""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field

import numpy as np

from harness.errors import HarnessError
from harness.mil.ops import OPS, VARIADIC
from harness.mil.profiles import Profile
from harness.mil.program import NUMPY_DTYPES, Block, Operation, Program, TensorType


class UnsupportedOp(HarnessError):
    """The program uses an op (or an op variant) the interpreter does not implement."""

    def __init__(self, op: Operation, detail: str = ""):
        what = detail or f"op {op.type!r} is not supported"
        super().__init__(f"{what} (op {op.name!r} at {op.location}); supported ops: "
                         f"{', '.join(sorted(OPS))}")
        self.op_type = op.type
        self.location = op.location


class OpFailed(HarnessError):
    """An op raised while running: names the op and where it sits."""


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    trace: dict[str, np.ndarray] = field(default_factory=dict)  # top-level op outputs by name
    order: list[tuple[str, str]] = field(default_factory=list)  # (value name, op type) in order


class OpContext:
    """What an op implementation may use: the profile-aware sums and the nested-block runner."""

    def __init__(self, interpreter: Interpreter, op: Operation, scope: ChainMap):
        self.interpreter = interpreter
        self.op = op
        self.scope = scope
        self.profile = interpreter.profile
        fp16_op = any(t.dtype == "FLOAT16" for _, t in op.outputs)
        #: The profile's fp16 rules apply to ops whose result the program types as fp16.
        self.stores_fp16 = self.profile.store_fp16 and fp16_op
        self.accumulate_fp16 = self.profile.accumulate_fp16 and fp16_op

    def unsupported(self, detail: str) -> UnsupportedOp:
        return UnsupportedOp(self.op, detail)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b with the profile's accumulation: float32, or float16 with every partial sum rounded."""
        if not self.accumulate_fp16:
            return np.matmul(a.astype(np.float32), b.astype(np.float32))
        a16, b16 = a.astype(np.float16), b.astype(np.float16)
        acc = None
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(a16.shape[-1]):
                term = a16[..., :, k : k + 1] * b16[..., k : k + 1, :]
                acc = term if acc is None else acc + term
        return acc

    def sum(self, x: np.ndarray, axis, keepdims: bool = True) -> np.ndarray:
        """Reduction over `axis` (int or ints) with the profile's accumulation."""
        axes = tuple(int(a) % x.ndim for a in np.atleast_1d(axis))
        if not self.accumulate_fp16:
            return np.sum(x.astype(np.float32), axis=axes, keepdims=keepdims)
        keep = [a for a in range(x.ndim) if a not in axes]
        flat = np.transpose(x.astype(np.float16), keep + list(axes))
        flat = flat.reshape([x.shape[a] for a in keep] + [-1])
        acc = np.zeros(flat.shape[:-1], np.float16)
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(flat.shape[-1]):
                acc = acc + flat[..., k]
        if keepdims:
            acc = acc.reshape([1 if a in axes else x.shape[a] for a in range(x.ndim)])
        return acc

    def run_block(self, block: Block, values: list) -> list:
        return self.interpreter.run_block(block, values, self.scope)


class Interpreter:
    def __init__(self, program: Program, profile: Profile):
        self.program = program
        self.profile = profile

    def storage(self, ttype: TensorType, value):
        """Store a value as its declared type says, under this profile."""
        if ttype.shape is None or not isinstance(value, np.ndarray | np.generic):
            return value
        if ttype.dtype == "FLOAT16":
            dtype = np.float16 if self.profile.store_fp16 else np.float32
        else:
            dtype = NUMPY_DTYPES.get(ttype.dtype)
            if dtype is None:
                return value
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(value).astype(dtype, copy=False)

    def _resolve(self, op: Operation, scope: ChainMap) -> dict:
        args = {}
        for param, bindings in op.inputs.items():
            values = []
            for b in bindings:
                if b.name is None:
                    values.append(b.value)
                elif b.name in scope:
                    values.append(scope[b.name])
                else:
                    raise OpFailed(f"op {op.name!r} at {op.location}: input {param} names "
                                   f"{b.name!r}, which no earlier op produced")
            args[param] = values if param in VARIADIC.get(op.type, ()) else values[0]
        return args

    def run_op(self, op: Operation, scope: ChainMap) -> tuple:
        if op.type == "const":
            return (self.storage(op.outputs[0][1], op.value),)
        impl = OPS.get(op.type)
        if impl is None:
            raise UnsupportedOp(op)
        ctx = OpContext(self, op, scope)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                result = impl(ctx, **self._resolve(op, scope))
        except (UnsupportedOp, OpFailed):
            raise
        except Exception as err:
            raise OpFailed(f"op {op.type} {op.name!r} at {op.location} failed: "
                           f"{type(err).__name__}: {err}") from err
        result = result if isinstance(result, tuple) else (result,)
        return tuple(self.storage(t, v) for (_, t), v in zip(op.outputs, result, strict=True))

    def run_block(self, block: Block, values: list, parent: ChainMap, trace: RunResult | None = None):
        scope = parent.new_child()
        for (name, ttype), value in zip(block.inputs, values, strict=True):
            scope[name] = self.storage(ttype, value)
        for op in block.operations:
            outs = self.run_op(op, scope)
            for (name, _), value in zip(op.outputs, outs, strict=True):
                scope[name] = value
                if trace is not None and op.type != "const":
                    trace.trace[name] = value
                    trace.order.append((name, op.type))
        return [scope[name] for name in block.outputs]

    def run(self, inputs: dict[str, np.ndarray], capture: bool = False) -> RunResult:
        scope: ChainMap = ChainMap()
        for name, ttype in self.program.inputs:
            if name not in inputs:
                raise HarnessError(f"missing program input {name!r}")
            scope[name] = self.storage(ttype, np.asarray(inputs[name], dtype=np.float32))
        result = RunResult(outputs={})
        outs = self.run_block(self.program.main, [], scope, result if capture else None)
        result.outputs = dict(zip(self.program.main.outputs, outs, strict=True))
        return result
