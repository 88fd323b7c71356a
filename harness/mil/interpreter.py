"""Execute a MIL `Program` in numpy, op by op, under a precision profile."""

from __future__ import annotations

from collections import ChainMap, Counter
from dataclasses import dataclass, field

import numpy as np

from harness.errors import HarnessError
from harness.mil.ops import OPS, UNSUPPORTED, VARIADIC
from harness.mil.profiles import Profile
from harness.mil.program import NUMPY_DTYPES, Block, Operation, Program, TensorType

#: Ops the interpreter handles itself rather than through `OPS`.
BUILTIN_OPS = frozenset({"const"})


class UnsupportedOp(HarnessError):
    """The program uses ops (or op variants) the interpreter does not implement.

    `missing` maps each missing op type to (count, first location); `op_type` and
    `location` name the first one.
    """

    def __init__(self, message: str, missing: dict[str, tuple[int, str]]):
        super().__init__(f"{message}; supported ops: {', '.join(sorted(OPS))}")
        self.missing = missing
        self.op_type, (_, self.location) = next(iter(missing.items()))

    @classmethod
    def variant(cls, op: Operation, detail: str) -> UnsupportedOp:
        """One op whose type is known but whose attributes ask for something not implemented."""
        return cls(f"{detail} (op {op.name!r} at {op.location})", {op.type: (1, op.location)})

    @classmethod
    def scan(cls, program: Program) -> UnsupportedOp | None:
        """Every op type the program uses that has no implementation, or None."""
        counts: Counter[str] = Counter()
        first: dict[str, str] = {}
        for op in program.operations():
            if op.type not in OPS and op.type not in BUILTIN_OPS:
                counts[op.type] += 1
                first.setdefault(op.type, op.location)
        if not counts:
            return None
        missing = {t: (counts[t], first[t]) for t in first}
        listed = "; ".join(f"op {t!r} is not supported{': ' + UNSUPPORTED[t] if t in UNSUPPORTED else ''} "
                           f"(x{n}, first at {where})" for t, (n, where) in missing.items())
        return cls(f"{len(missing)} op type(s) not supported: {listed}", missing)


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
        self.opset = interpreter.program.opset
        fp16_op = any(t.dtype == "FLOAT16" for _, t in op.outputs)
        #: The profile's fp16 rules apply to ops whose result the program types as fp16.
        self.stores_fp16 = self.profile.store_fp16 and fp16_op
        self.accumulate_fp16 = self.profile.accumulate_fp16 and fp16_op

    def unsupported(self, detail: str) -> UnsupportedOp:
        return UnsupportedOp.variant(self.op, detail)

    def output_dtype(self, index: int = 0) -> str:
        """The MIL dtype the program declares for this op's output `index` (e.g. "FLOAT16")."""
        return self.op.outputs[index][1].dtype

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b with the profile's accumulation: float32, or float16 with every partial sum rounded."""
        if not self.accumulate_fp16:
            return np.matmul(a.astype(np.float32), b.astype(np.float32))
        a16, b16 = a.astype(np.float16), b.astype(np.float16)
        acc = np.matmul(a16[..., :0], b16[..., :0, :])  # zeros of the result's shape
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(a16.shape[-1]):
                acc = acc + a16[..., :, k : k + 1] * b16[..., k : k + 1, :]
        return acc

    def sum(self, x: np.ndarray, axis, keepdims: bool = True) -> np.ndarray:
        """Reduction over `axis` (int or ints) with the profile's accumulation."""
        x = np.asarray(x)
        axes = tuple(sorted({int(a) % x.ndim for a in np.atleast_1d(axis)})) if x.ndim else ()
        if not np.issubdtype(x.dtype, np.floating):
            return np.sum(x, axis=axes, keepdims=keepdims)  # integers sum exactly
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
        missing = UnsupportedOp.scan(program)
        if missing is not None:
            raise missing
        self.program = program
        self.profile = profile
        self.output_types = program.output_types()

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

    @staticmethod
    def interface(ttype: TensorType, value):
        """A value crossing the program's interface: fp16-typed ones are float16 on every device."""
        if ttype.dtype == "FLOAT16" and isinstance(value, np.ndarray | np.generic):
            with np.errstate(over="ignore", invalid="ignore"):
                return np.asarray(value).astype(np.float16)
        return value

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
            raise UnsupportedOp.variant(op, f"op {op.type!r} is not supported")
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
        if len(result) != len(op.outputs):
            raise OpFailed(f"op {op.type} {op.name!r} at {op.location} made {len(result)} outputs; "
                           f"the program declares {len(op.outputs)}")
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
            dtype = NUMPY_DTYPES.get(ttype.dtype, np.float32)
            with np.errstate(over="ignore", invalid="ignore"):
                value = self.interface(ttype, np.asarray(inputs[name]).astype(dtype))
            scope[name] = self.storage(ttype, value)
        result = RunResult(outputs={})
        outs = self.run_block(self.program.main, [], scope, result if capture else None)
        result.outputs = {name: self.interface(self.output_types[name], value)
                          for name, value in zip(self.program.main.outputs, outs, strict=True)}
        return result
