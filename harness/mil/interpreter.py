"""Execute a MIL `Program` in numpy under a precision profile: planned once, then run op by op.

The plan, made when the interpreter is built, resolves every op's input bindings, reads
constants once (already stored as the profile's type), expands compressed weights once
(constexpr_* ops, compile-time by definition), fixes each output's storage dtype and lets an
op prepare what does not depend on its dynamic inputs (`plan` in its module, e.g. conv's
weight matrices) and lets an op that alone reads a new intermediate (relu after conv) write over
it in runs that keep no trace. A run is then only the ops' arithmetic. Ops come from the registry of the
program's deployment target (`harness.mil.ops.registry`); a stateful program's buffers live in
a `ProgramState` (`make_state`) that runs read and update.

A run makes a few MB of intermediates per op at large batches and frees them; glibc hands such
blocks back to the system and the next run pays for every page again (5,000 page faults per
trendsplit run at batch 256, a third of its time). The first interpreter built asks glibc to keep
freed memory for reuse (`keep_freed_memory`): the process's peak stays what it was.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
from collections import ChainMap, Counter
from dataclasses import dataclass, field

import numpy as np

from harness.errors import HarnessError
from harness.mil.montecarlo import RandomRounding
from harness.mil.ops import IN_PLACE, PLANS, UNSUPPORTED, VARIADIC, introduced, registry, target_of
from harness.mil.ops._common import round16
from harness.mil.profiles import FP16_BLOCK, Profile
from harness.mil.program import NUMPY_DTYPES, Block, Operation, Program, ProgramError, TensorType
from harness.mil.state import ProgramState, StateError

#: Ops the interpreter handles itself rather than through `OPS`.
BUILTIN_OPS = frozenset({"const"})

#: How the fp16 profiles hold a run-time value typed fp16: its float16 values in a float32 array
#: (`round16`), since every op computes in float32 anyway. numpy's float16 conversions cost more
#: than most ops; this way a value is rounded once and read as it is. A float16 array is made
#: only where one is seen: the trace, the program's outputs, and ops outside `WIDE_INPUTS`.
_WIDE16 = "fp16 values held in float32"
_KEPT16 = "fp16 values held in float32, made of such values"  # `SELECTING` ops' outputs: no rounding needed

#: Ops handed those float32 arrays as they are: they read float inputs through `f32` (or ctx's
#: sums), or only move values, so float32 and float16 arrays of the same values give the same
#: result. The others (scatters that add in the data's dtype, sorts, lists, control flow, ...)
#: get float16 arrays, as before.
WIDE_INPUTS = frozenset({
    "abs", "acos", "add", "asin", "atan", "atanh", "ceil", "cos", "cosh", "equal", "erf", "exp", "exp2", "floor",
    "floor_div", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor",
    "maximum", "minimum", "mod", "mul", "not_equal", "pow", "real_div", "round", "sign", "sin", "sinh", "sqrt",
    "square", "sub", "tan", "tanh", "log", "rsqrt", "inverse",
    "relu", "relu6", "sigmoid", "sigmoid_hard", "silu", "gelu", "elu", "leaky_relu", "clamped_relu", "softplus",
    "softplus_parametric", "softsign", "scaled_tanh", "thresholded_relu", "threshold", "prelu", "linear_activation",
    "clip", "softmax",
    "conv", "conv_transpose", "linear", "matmul", "batch_norm", "layer_norm", "instance_norm", "l2_norm",
    "avg_pool", "max_pool", "l2_pool", "reduce_argmax", "reduce_argmin", "reduce_l1_norm", "reduce_l2_norm",
    "reduce_log_sum", "reduce_log_sum_exp", "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum",
    "reduce_sum_square",
    "reshape", "transpose", "squeeze", "expand_dims", "slice_by_index", "slice_by_size", "flatten2d", "identity",
    "split", "gather", "gather_along_axis", "gather_nd", "tile", "concat", "stack", "select", "depth_to_space",
    "space_to_depth", "pixel_shuffle", "pixel_unshuffle", "reverse", "crop", "band_part", "shape", "fill_like", "cast",
})

#: Ops that round their fp16 result themselves when `OpContext.rounds_output` says so (conv: a
#: few samples at a time, while they are in cache), giving what `round16` of the whole would.
ROUNDS_OWN_OUTPUT = frozenset({"conv"})

#: Ops whose every output element is one of their inputs' elements (or 0, 6, -inf): given fp16
#: values only, their float32 result holds fp16 values already and is kept without rounding again.
SELECTING = frozenset({
    "relu", "relu6", "clip", "maximum", "minimum", "abs", "max_pool", "reduce_max", "reduce_min",
    "reshape", "transpose", "squeeze", "expand_dims", "slice_by_index", "slice_by_size", "flatten2d", "identity",
    "split", "gather", "gather_along_axis", "gather_nd", "tile", "concat", "stack", "select", "depth_to_space",
    "space_to_depth", "pixel_shuffle", "pixel_unshuffle", "reverse", "crop",
})
#: Ops whose outputs are arrays they made themselves (never a view of an input or a constant): an
#: `IN_PLACE` op that is the only reader of such an output may write over it when no trace keeps it.
FRESH_OUTPUTS = frozenset({"conv"})
_QUIET = dict(over="ignore", invalid="ignore", divide="ignore", under="ignore")


class UnsupportedOp(HarnessError):
    """The program uses ops (or op variants) the interpreter does not implement.

    `missing` maps each missing op type to (count, first location); `op_type` and
    `location` name the first one.
    """

    def __init__(self, message: str, missing: dict[str, tuple[int, str]], supported=()):
        super().__init__(f"{message}; supported ops: {', '.join(sorted(supported))}")
        self.missing = missing
        self.op_type, (_, self.location) = next(iter(missing.items()))

    @classmethod
    def variant(cls, op: Operation, detail: str, supported=()) -> UnsupportedOp:
        """One op whose type is known but whose attributes ask for something not implemented."""
        return cls(f"{detail} (op {op.name!r} at {op.location})", {op.type: (1, op.location)}, supported)

    @classmethod
    def scan(cls, program: Program) -> UnsupportedOp | None:
        """Every op type the program uses that its target's registry lacks, or None."""
        target = target_of(program.opset)
        ops = registry(program.opset)
        counts: Counter[str] = Counter()
        first: dict[str, str] = {}
        for op in program.operations():
            if op.type not in ops and op.type not in BUILTIN_OPS:
                counts[op.type] += 1
                first.setdefault(op.type, op.location)
        if not counts:
            return None
        missing = {t: (counts[t], first[t]) for t in first}

        def why(t):
            if t in UNSUPPORTED:
                return f"op {t!r} is not supported: {UNSUPPORTED[t]}"
            if introduced(t):
                return f"op {t!r} arrives at {introduced(t)}, and this program targets {target} ({program.opset})"
            return f"op {t!r} is not supported"

        listed = "; ".join(f"{why(t)} (x{n}, first at {where})" for t, (n, where) in missing.items())
        return cls(f"{len(missing)} op type(s) not supported: {listed}", missing, ops)


class OpFailed(HarnessError):
    """An op raised while running: names the op and where it sits."""


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    trace: dict[str, np.ndarray] = field(default_factory=dict)  # top-level op outputs by name
    order: list[tuple[str, str]] = field(default_factory=list)  # (value name, op type) in order


@functools.cache
def keep_freed_memory() -> bool:
    """glibc's malloc, told to serve blocks under 32 MB from its heap and to keep up to 256 MB of freed heap
    rather than trim it: a run's intermediates then reuse the pages the last run's had. Elsewhere (macOS,
    musl) nothing is changed; the result says whether glibc took both settings."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 256 << 20))


def _float32(x) -> np.ndarray:
    """x as a float32 array with the strides a fresh copy would have (so numpy picks the same BLAS call).

    numpy decides between BLAS and its own loop, and which BLAS routine, from the strides, the
    strides of size-1 axes included; a view with odd strides there could change the sums.
    """
    x = np.asarray(x)
    if x.dtype == np.float32 and x.ndim:
        # what astype(order="K") makes: C order when x is C-contiguous, else F order when F-contiguous
        c_strides, f_strides = _fresh_strides(x.shape, x.itemsize)
        if x.strides == (c_strides if x.flags.c_contiguous else f_strides if x.flags.f_contiguous else None):
            return x
    return x.astype(np.float32)


@functools.lru_cache(maxsize=256)
def _fresh_strides(shape: tuple[int, ...], itemsize: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The strides of a new C-order and a new F-order array of this shape (planned shapes repeat: cached)."""
    step, c_strides = itemsize, []
    for size in reversed(shape):
        c_strides.append(step)
        step *= size
    step, f_strides = itemsize, []
    for size in shape:
        f_strides.append(step)
        step *= size
    return tuple(reversed(c_strides)), tuple(f_strides)


class OpContext:
    """What an op implementation may use: the profile-aware sums and the nested-block runner.

    Made once per op when the program is planned; `scope` is set when the op runs.
    """

    def __init__(self, interpreter: Interpreter, op: Operation, scope=None, kept32: bool = False):
        self.interpreter = interpreter
        self.op = op
        self.scope = scope
        self.profile = interpreter.profile
        self.opset = interpreter.program.opset
        fp16_op = not kept32 and (any(t.dtype == "FLOAT16" for _, t in op.outputs) or (
            interpreter.noise is not None and interpreter.noise.precision == "fp16"
            and any(t.dtype in ("FLOAT16", "FLOAT32") for _, t in op.outputs)))  # fp16 arithmetic on any program
        #: The profile's fp16 rules apply to ops whose result the program types as fp16.
        self.stores_fp16 = self.profile.store_fp16 and fp16_op
        self.accumulate_fp16 = self.profile.accumulate_fp16 and fp16_op
        #: Set when planned: every float input of the op holds fp16 values (run-time fp16 values, fp16 constants).
        self.fp16_inputs = False
        #: Set when planned: the op rounds its fp16 result itself (`ROUNDS_OWN_OUTPUT`), the interpreter keeps it.
        self.rounds_output = False

    def unsupported(self, detail: str) -> UnsupportedOp:
        return UnsupportedOp.variant(self.op, detail, self.interpreter.ops)

    def output_dtype(self, index: int = 0) -> str:
        """The MIL dtype the program declares for this op's output `index` (e.g. "FLOAT16")."""
        return self.op.outputs[index][1].dtype

    def matmul(self, a: np.ndarray, b: np.ndarray, fp16_operands: bool = False) -> np.ndarray:
        """a @ b with the profile's accumulation: float32, or fp16 blocks (see `harness.mil.profiles`).

        `fp16_operands`: the caller knows a and b hold fp16 values (an fp16 op's own inputs), so
        rounding them again would change nothing but their strides, which are made as it would.
        """
        a, b = _float32(a), _float32(b)
        if not self.accumulate_fp16:
            noise = self.interpreter.noise
            if noise is not None and noise.precision == "fp32":  # the dot products' own additions, at random
                return noise.accumulated(np.matmul(a, b), np.matmul(np.abs(a), np.abs(b)), a.shape[-1])
            return np.matmul(a, b)
        a, b = (_as_rounded(a), _as_rounded(b)) if fp16_operands else (round16(a), round16(b))
        acc, r16 = None, self._sum_rounding()
        for start in range(0, a.shape[-1], FP16_BLOCK):
            part = r16(np.matmul(a[..., start : start + FP16_BLOCK], b[..., start : start + FP16_BLOCK, :]))
            acc = part if acc is None else r16(acc + part)
        return acc if acc is not None else np.matmul(a, b)  # K = 0: zeros of the result's shape

    def _sum_rounding(self):
        """How an fp16 sum's partial sums are rounded: to nearest, or at random in a Monte Carlo run at fp16 (the
        accumulator's rounding is rounding too: left to nearest, every run made the same error, and a sum of
        thousands of values was beyond the spread of runs that agreed on it)."""
        noise = self.interpreter.noise
        return noise.fp16 if noise is not None and noise.precision == "fp16" else round16

    def sum(self, x: np.ndarray, axis, keepdims: bool = True) -> np.ndarray:
        """Reduction over `axis` (int or ints) with the profile's accumulation."""
        x = np.asarray(x)
        axes = tuple(sorted({int(a) % x.ndim for a in np.atleast_1d(axis)})) if x.ndim else ()
        if not np.issubdtype(x.dtype, np.floating):
            return np.sum(x, axis=axes, keepdims=keepdims)  # integers sum exactly
        if not self.accumulate_fp16:
            total = np.sum(x.astype(np.float32), axis=axes, keepdims=keepdims)
            noise = self.interpreter.noise
            if noise is not None and noise.precision == "fp32":  # the sum's own additions, at random
                terms = int(np.prod([x.shape[a] for a in axes]))
                return noise.accumulated(total, np.sum(np.abs(x), axis=axes, keepdims=keepdims, dtype=np.float64),
                                         terms)
            return total
        keep = [a for a in range(x.ndim) if a not in axes]
        flat = np.transpose(round16(x.astype(np.float32)), keep + list(axes))
        flat = flat.reshape([x.shape[a] for a in keep] + [-1])
        acc, r16 = np.zeros(flat.shape[:-1], np.float32), self._sum_rounding()
        for start in range(0, flat.shape[-1], FP16_BLOCK):
            acc = r16(acc + r16(np.sum(flat[..., start : start + FP16_BLOCK], axis=-1)))
        if keepdims:
            acc = acc.reshape([1 if a in axes else x.shape[a] for a in range(x.ndim)])
        return acc

    def run_block(self, block: Block, values: list) -> list:
        return self.interpreter.run_block(block, values, self.scope)


class _Step:
    """One planned op: its implementation bound to constant inputs, and where the others come from."""

    __slots__ = ("op", "ctx", "call", "static", "dynamic", "names", "dtypes", "nested", "in_place", "kept32")

    def __init__(self, op, ctx, call, static, dynamic, dtypes, in_place=None, kept32=False):
        self.op, self.ctx, self.call, self.static, self.dynamic = op, ctx, call, static, dynamic
        self.names = [name for name, _ in op.outputs]
        self.dtypes = dtypes
        self.nested = bool(op.blocks)
        #: `call` writing over its input, for runs that keep no trace (None: not allowed here).
        self.in_place = in_place
        #: A Monte Carlo run at fp16 rounds this op's results at fp32: the fp16 program computes it in float32.
        self.kept32 = kept32


class _Const:
    """A constant inside a variadic input that also has run-time values."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


@dataclass
class _Plan:
    inputs: list[tuple[str, object]]  # block input name, storage dtype
    constants: dict[str, object]
    steps: list[_Step]
    outputs: list[str]


class Interpreter:
    """Runs a program under `profile`; with `noise` (`harness.mil.montecarlo.RandomRounding`), every op's
    float result is rounded at random instead of to nearest: one run of Monte Carlo arithmetic."""

    def __init__(self, program: Program, profile: Profile, noise: RandomRounding | None = None):
        keep_freed_memory()
        try:
            self.ops = registry(program.opset)
        except ValueError as err:
            raise ProgramError(f"{program.path.name}: {err}") from None
        missing = UnsupportedOp.scan(program)
        if missing is not None:
            raise missing
        self.program = program
        self.profile = profile
        self.noise = noise
        self.output_types = program.output_types()
        self._plans: dict[int, _Plan] = {}
        top = {name: ttype for name, ttype in program.inputs}
        self._wide = set()  # names of run-time values held as `_WIDE16`
        if profile.store_fp16:
            typed = [*program.inputs, *((n, t) for op in program.operations() if op.type not in BUILTIN_OPS
                                         for n, t in op.outputs)]

            def blocks(block):
                yield block
                for op in block.operations:
                    for inner in op.blocks:
                        yield from blocks(inner)

            typed += [(n, t) for block in blocks(program.main) for n, t in block.inputs]
            self._wide = {name for name, t in typed if self._held_as(t) is _WIDE16}
        self._readers = _readers(program)
        with np.errstate(**_QUIET):
            self._main = self._plan(program.main, {})
        self._input_dtypes = {name: self._held_as(t) for name, t in top.items()}

    def storage_dtype(self, ttype: TensorType):
        """The numpy dtype a value of this declared type is stored as under this profile (None: as made)."""
        if ttype.shape is None:
            return None
        if ttype.dtype == "FLOAT16":
            return np.dtype(np.float16 if self.profile.store_fp16 else np.float32)
        dtype = NUMPY_DTYPES.get(ttype.dtype)
        return None if dtype is None else np.dtype(dtype)

    def _held_as(self, ttype: TensorType):
        """What a run-time value of this type is kept as: `storage_dtype`, or `_WIDE16` for fp16 storage."""
        dtype = self.storage_dtype(ttype)
        return _WIDE16 if dtype == np.float16 else dtype

    def _fp16_valued(self, static: dict, dynamic: list) -> bool:
        """Whether an op's float inputs all hold fp16 values: wide run-time values, float16 constants."""
        for _, source, variadic, _ in dynamic:
            for s in source if variadic else [source]:
                if type(s) is _Const:
                    static = {**static, id(s): s.value}
                elif s not in self._wide:
                    return False
        for value in static.values():
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, np.ndarray | np.generic) and np.issubdtype(v.dtype, np.floating) and (
                        v.dtype != np.float16):
                    return False
        return True

    def storage(self, ttype: TensorType, value):
        """Store a value as its declared type says, under this profile."""
        return _store(value, self.storage_dtype(ttype))

    @staticmethod
    def interface(ttype: TensorType, value):
        """A value crossing the program's interface: fp16-typed ones are float16 on every device."""
        if ttype.dtype == "FLOAT16" and isinstance(value, np.ndarray | np.generic):
            with np.errstate(over="ignore", invalid="ignore"):
                return np.asarray(value).astype(np.float16)
        return value

    def _plan(self, block: Block, outer: dict[str, object]) -> _Plan:
        """Resolve a block once: constants read and stored, inputs bound, ops prepared."""
        constants: dict[str, object] = {}
        exact: dict[str, object] = {}  # the constants before a Monte Carlo run's rounding
        known, known_exact = ChainMap(constants, outer), ChainMap(exact, constants, outer)
        steps = []
        fresh: set[str] = set()  # this block's values made by `FRESH_OUTPUTS` ops
        for op in block.operations:
            if op.type == "const":
                exact[op.outputs[0][0]] = self.storage(op.outputs[0][1], op.value)
                constants[op.outputs[0][0]] = self._constant(exact[op.outputs[0][0]])
                continue
            static, dynamic = {}, []
            kept32 = self._op_keeps_fp32(op, known_exact)
            for param, bindings in op.inputs.items():
                found = known_exact if kept32 or self._keeps_fp32(op.type, param) else known
                sources = [b.value if b.name is None else found.get(b.name, b.name)
                           for b in bindings]
                runtime = [b.name is not None and b.name not in known for b in bindings]
                variadic = param in VARIADIC.get(op.type, ())
                narrow = op.type not in WIDE_INPUTS and any(r and s in self._wide for s, r in zip(
                    sources, runtime, strict=True))
                if not any(runtime):
                    static[param] = sources if variadic else sources[0]
                elif variadic:
                    dynamic.append((param, [s if r else _Const(s) for s, r in zip(sources, runtime, strict=True)],
                                    True, narrow))
                else:
                    dynamic.append((param, sources[0], False, narrow))
            ctx = OpContext(self, op, kept32=kept32)
            if op.type.startswith("constexpr_") and not dynamic:
                constants.update(self._expand(op, ctx, static))
                continue
            ctx.fp16_inputs = self.profile.store_fp16 and self._fp16_valued(static, dynamic)
            held = [self._held_as(t) for _, t in op.outputs]
            if op.type in ROUNDS_OWN_OUTPUT and held == [_WIDE16] and self.noise is None:
                ctx.rounds_output, held = True, [_KEPT16]
            elif op.type in SELECTING and ctx.fp16_inputs:
                held = [_KEPT16 if h is _WIDE16 else h for h in held]
            call = None
            planner = PLANS.get(op.type)
            if planner is not None and not op.blocks:
                try:
                    call = planner(ctx, **static)
                except (UnsupportedOp, OpFailed):
                    raise
                except Exception:  # the run reports it, with the op's name, as before
                    call = None
            if call is not None:
                static = {}
            else:
                impl = self.ops[op.type]

                def call(_impl=impl, _ctx=ctx, **kwargs):
                    return _impl(_ctx, **kwargs)

            steps.append(_Step(op, ctx, call, static, dynamic, held, self._in_place(op, ctx, static, dynamic, fresh),
                               kept32))
            if op.type in FRESH_OUTPUTS:
                fresh.update(name for name, _ in op.outputs)
            for inner in op.blocks:
                self._plans[id(inner)] = self._plan(inner, dict(known))
        _fuse(steps)
        return _Plan([(name, self._held_as(t)) for name, t in block.inputs], constants, steps,
                     list(block.outputs))

    def _in_place(self, op: Operation, ctx: OpContext, static: dict, dynamic: list, fresh: set[str]):
        """The op's `IN_PLACE` form bound to its context, when its input is a float32 array made for it alone:
        made by an earlier op of the block that returns new arrays, read by no other op, output or state."""
        in_place = IN_PLACE.get(op.type)
        if in_place is None or static or self.noise is not None or len(dynamic) != 1:
            return None
        param, source, variadic, narrow = dynamic[0]
        if param != "x" or variadic or narrow or source not in fresh or self._readers[source] != 1:
            return None
        if [self._held_as(t) for _, t in op.outputs] != [np.dtype(np.float32)] and not ctx.fp16_inputs:
            return None  # stored as float32 (fp32, or fp16 values held in float32 from fp16 inputs) only

        def call(x, _run=in_place, _ctx=ctx):
            return _run(_ctx, x) if type(x) is np.ndarray and x.dtype == np.float32 else self.ops[op.type](_ctx, x)

        return call

    def _expand(self, op: Operation, ctx: OpContext, static: dict) -> dict[str, object]:
        """A compile-time (constexpr_*) op's outputs, computed once: the dense weights, stored as a const's are.

        Their declared dtype applies under every profile (fp16 weights keep fp16 values, as a
        const's do), then the profile's storage.
        """
        try:
            result = self.ops[op.type](ctx, **static)
        except (UnsupportedOp, OpFailed):
            raise
        except Exception as err:
            raise OpFailed(f"op {op.type} {op.name!r} at {op.location} failed: {type(err).__name__}: {err}") from err
        result = result if type(result) is tuple else (result,)
        if len(result) != len(op.outputs):
            raise OpFailed(f"op {op.type} {op.name!r} at {op.location} made {len(result)} outputs; "
                           f"the program declares {len(op.outputs)}")
        values = {}
        for (name, ttype), value in zip(op.outputs, result, strict=True):
            declared = NUMPY_DTYPES.get(ttype.dtype)
            value = np.asarray(value) if declared is None else np.asarray(value).astype(declared)
            if ttype.shape is not None and None not in ttype.shape and value.shape != ttype.shape:
                raise OpFailed(f"op {op.type} {op.name!r} at {op.location} made shape {list(value.shape)}; "
                               f"the program declares {list(ttype.shape)}")
            values[name] = self.storage(ttype, value)
        return values

    def _noisy(self, value, dtype, kept32: bool = False):
        """`_store` with random rounding at the run's precision (fp32 for an op an fp16 program keeps in float32);
        integers and booleans stay as they are."""
        if kept32 and type(value) is np.ndarray and value.dtype.kind == "f":
            return self.noise.fp32(np.asarray(value, np.float32))
        if self.noise.precision == "fp16":
            if isinstance(value, np.ndarray | np.generic) and np.asarray(value).dtype.kind == "f":
                return self.noise.fp16(value)  # held in float32, as fp16-held values are
            return _store(value, dtype)
        value = _store(value, dtype)
        if type(value) is np.ndarray and value.dtype == np.float32 and dtype is not _KEPT16:
            return self.noise.fp32(value)
        return value

    def _keeps_fp32(self, op_type: str, param: str) -> bool:
        """A Monte Carlo run at fp16 leaves the constants of an input the fp16 program keeps in float32."""
        if self.noise is None or self.noise.precision != "fp16":
            return False
        from harness.mil.montecarlo import kept_fp32

        return kept_fp32(op_type, param)

    def _op_keeps_fp32(self, op: Operation, constants) -> bool:
        """A Monte Carlo run at fp16 leaves a whole op in float32 where coremltools' fp16 pass does (`op_kept_fp32`),
        or the program was converted to keep it there (`RandomRounding.kept`)."""
        if self.noise is None or self.noise.precision != "fp16":
            return False
        if any(name in self.noise.kept for name, _ in op.outputs):
            return True
        from harness.mil.montecarlo import op_kept_fp32

        return op_kept_fp32([b.value if b.name is None else constants.get(b.name)
                             for bindings in op.inputs.values() for b in bindings])

    def _constant(self, value):
        """A constant or an input under random rounding at fp16: rounded at random once per run (the weights
        of an fp16 program are fp16); otherwise as it is."""
        if (self.noise is not None and self.noise.precision == "fp16" and isinstance(value, np.ndarray)
                and value.dtype.kind == "f"):
            return self.noise.fp16(value)
        return value

    def make_state(self) -> ProgramState:
        """Fresh state buffers (zeros) for the states the program declares; empty for a stateless program."""
        return ProgramState(self.program.states)

    def _bind_state(self, scope: dict, state: ProgramState | None) -> None:
        declared = [name for name, _ in self.program.states]
        if state is None:
            if declared:
                raise StateError(f"the program declares state(s) {declared}; pass state=interpreter.make_state() "
                                 "and the same state to each run of a sequence")
            return
        if dict(state.declared) != dict(self.program.states):
            raise StateError(f"the state was made for {state.declared}; this program declares {self.program.states}")
        scope.update(state.buffers)

    def _execute(self, plan: _Plan, scope, trace: RunResult | None):
        for step in plan.steps:
            op = step.op
            kwargs = dict(step.static)
            try:
                for param, source, variadic, narrow in step.dynamic:
                    if variadic:
                        kwargs[param] = [s.value if type(s) is _Const else
                                         _narrow(scope[s]) if narrow and s in self._wide else scope[s] for s in source]
                    else:
                        kwargs[param] = _narrow(scope[source]) if narrow else scope[source]
            except KeyError as err:
                raise OpFailed(f"op {op.name!r} at {op.location}: an input names {err.args[0]!r}, "
                               f"which no earlier op produced") from None
            if step.nested:
                step.ctx.scope = scope
            try:
                result = (step.in_place if trace is None and step.in_place is not None else step.call)(**kwargs)
            except (UnsupportedOp, OpFailed):
                raise
            except Exception as err:
                raise OpFailed(f"op {op.type} {op.name!r} at {op.location} failed: "
                               f"{type(err).__name__}: {err}") from err
            if type(result) is not tuple:
                result = (result,)
            if len(result) != len(step.names):
                raise OpFailed(f"op {op.type} {op.name!r} at {op.location} made {len(result)} outputs; "
                               f"the program declares {len(step.names)}")
            for name, dtype, value in zip(step.names, step.dtypes, result, strict=True):
                value = _store(value, dtype) if self.noise is None else self._noisy(value, dtype, step.kept32)
                scope[name] = value
                if trace is not None:
                    trace.trace[name] = _narrow(value) if dtype is _WIDE16 or dtype is _KEPT16 else value
                    trace.order.append((name, op.type))
        return [scope[name] for name in plan.outputs]

    def run_block(self, block: Block, values: list, parent, trace: RunResult | None = None):
        plan = self._plans.get(id(block))
        if plan is None:
            plan = self._plans[id(block)] = self._plan(block, {})
        scope = ChainMap(dict(plan.constants), parent)
        for (name, dtype), value in zip(plan.inputs, values, strict=True):
            scope[name] = _store(value, dtype)
        return self._execute(plan, scope, trace)

    def run(self, inputs: dict[str, np.ndarray], capture: bool = False, state: ProgramState | None = None) -> RunResult:
        """One prediction. A stateful program needs `state` (from `make_state`), which the run reads and updates."""
        scope = dict(self._main.constants)
        self._bind_state(scope, state)
        with np.errstate(**_QUIET):
            for name, ttype in self.program.inputs:
                if name not in inputs:
                    raise HarnessError(f"missing program input {name!r}")
                dtype = NUMPY_DTYPES.get(ttype.dtype, np.float32)
                value = self.interface(ttype, np.asarray(inputs[name]).astype(dtype))
                scope[name] = self._constant(_store(value, self._input_dtypes[name]))
            result = RunResult(outputs={})
            outs = self._execute(self._main, scope, result if capture else None)
            result.outputs = {name: self.interface(self.output_types[name], value)
                              for name, value in zip(self.program.main.outputs, outs, strict=True)}
        return result


def _fuse(steps: list[_Step]) -> None:
    """For runs that keep no trace: an op written over its input in place (`_Step.in_place`) right after the
    op that made that input, when the maker can apply it as it makes its result (its call `takes_then`: conv,
    chunk by chunk while in cache), is done by the maker, and its own step passes the value on. The same
    arithmetic on the same values; one pass over memory fewer."""
    for maker, step in itertools.pairwise(steps):
        if (step.in_place is None or maker.in_place is not None or not getattr(maker.call, "takes_then", False)
                or len(maker.names) != 1 or step.dynamic[0][1] != maker.names[0]):
            continue

        def made(_call=maker.call, _then=step.in_place, **kwargs):
            return _call(then=_then, **kwargs)

        maker.in_place, step.in_place = made, _passed_on


def _passed_on(x):
    """The step of an op its input's maker has already applied (`_fuse`)."""
    return x


def _readers(program: Program) -> Counter[str]:
    """How many times each value name is read: op inputs, block outputs and the program's outputs, every block."""
    readers: Counter[str] = Counter()

    def visit(block: Block):
        readers.update(block.outputs)
        for op in block.operations:
            readers.update(b.name for bindings in op.inputs.values() for b in bindings if b.name is not None)
            for inner in op.blocks:
                visit(inner)

    visit(program.main)
    return readers


def _as_rounded(x: np.ndarray) -> np.ndarray:
    """x, already holding fp16 values, with the strides `round16(x)` would give it."""
    like = np.empty_like(x)
    if like.strides == x.strides:
        return x
    like[...] = x
    return like


def _narrow(value):
    """A `_WIDE16` value as the float16 array it stands for (exact: its values are float16's)."""
    return value.astype(np.float16) if isinstance(value, np.ndarray) else value


def _store(value, dtype):
    """`value` as `dtype` (None: unchanged; `_WIDE16`: rounded to fp16); non-arrays (lists, strings) pass through."""
    if dtype is None:
        return value
    if dtype is _KEPT16 and type(value) is np.ndarray and value.dtype == np.float32:
        return value
    if dtype is _WIDE16 or dtype is _KEPT16:
        return round16(np.asarray(value)) if isinstance(value, np.ndarray | np.generic) else value
    if type(value) is np.ndarray:
        return value if value.dtype == dtype else value.astype(dtype)
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value).astype(dtype, copy=False)
    return value
