"""Export to a CoreML mlprogram `.mlpackage` at fp32 or fp16 compute precision, for the model's deployment target
and with its declared batch (`harness.shapes`: flexible 1..MAX_BATCH unless declared).

The interface stays float32 in both precisions (the app fills a float32 MLMultiArray);
an fp16 program casts at its input and output.

When a conversion with a batch that is not fixed fails, the model is converted once more at a fixed batch (its
declaration's smallest size), in the error path only: if that converts, the failure is the flexible batch's, and
`FlexibleBatchError` says so and names the declaration that converts (coremltools cannot lower GroupNorm,
adaptive average pooling to a size that does not divide the input, or scatter/scatter_add on a symbolic batch).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from harness import shapes
from harness.export import traced
from harness.export.unconvertible import failed_op
from harness.mil.program import mil_name
from harness.spec import ModelSpec, initial_state, state_buffers

MAX_BATCH = shapes.MAX_BATCH
AUTHOR = "trendsplit-harness"


class FlexibleBatchError(Exception):
    """A conversion that failed only because the batch was not fixed: the same model converts at `fixed`."""

    def __init__(self, message: str, fixed: int, cause: BaseException):
        super().__init__(message)
        self.fixed, self.cause = fixed, cause


class AliasedOutputError(Exception):
    """An output that is an input, or another output, in the traced graph: a CoreML program names a value once, so
    coremltools refuses the first and silently merges the second (outputs ['b', 'b'])."""


#: coremltools' words for an output that is an input returned unchanged (a MIL pass's assertion).
_INPUT_RETURNED = re.compile(
    r"Main block's input name, '(\w+)', is different from its corresponding var's name, '(\w+)'")

#: What converts instead, checked at iOS15 in fp32 and fp16 (tests/harness/test_unconvertible.py): a copy that
#: coremltools removes (.clone(), .contiguous()) is the same value again, a multiply it keeps.
_KEPT_COPY = "* 1.0 (coremltools keeps a multiply; a .clone() it removes)"


def _aliased(spec: ModelSpec, err: BaseException | None, names: list[str]) -> AliasedOutputError | None:
    """Why the converted outputs `names` (or the converter's `err`) are not the declared ones, when an output is
    an input or another output; else None."""
    found = _INPUT_RETURNED.search(str(err)) if err is not None else None
    if found:
        given, output = found.groups()
        return AliasedOutputError(
            f"output {output!r} is input {given!r} returned unchanged (or a copy coremltools removes), and a CoreML "
            f"program cannot name one value both an input and an output: leave it out of the outputs (the app has "
            f"its input), or return `{given} {_KEPT_COPY}`")
    declared = [t.name for t in spec.outputs]
    if err is not None or names == declared:
        return None
    kept = [name for name in declared if name in names]
    lost = [name for name in declared if name not in names]
    merged = [name for name in declared if name in {*kept[:1], *lost}]
    return AliasedOutputError(
        f"outputs {' and '.join(repr(n) for n in merged)} are one value in the traced graph (returned twice, or a copy "
        f"coremltools removes), and a CoreML program names a value once: its outputs came out as {names}; return it "
        f"once (the app reads it twice), or return the second as `value {_KEPT_COPY}`")


def export_coreml(spec: ModelSpec, module: torch.nn.Module, folder: Path, precision: str) -> dict:
    from harness.quiet import coremltools

    ct = coremltools()

    from harness import __version__

    compute_precision = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}[precision]
    if precision == "fp16" and spec.fp32_ops:
        compute_precision = ct.transform.FP16ComputePrecision(op_selector=fp16_selector(spec.fp32_ops))
    try:
        mlmodel = _convert(ct, spec, module, compute_precision)
    except Exception as err:
        if (aliased := _aliased(spec, err, [])) is not None:
            raise aliased from err
        if spec.batch.kind == "fixed" or not _converts_fixed(ct, spec, module, compute_precision):
            raise
        words, op, fixed = str(err).strip().splitlines(), failed_op(err), spec.batch.default
        raise FlexibleBatchError(
            f"coremltools cannot convert {op.describe() if op else f'model {spec.name!r}'} with "
            f"{spec.batch.describe()} ({type(err).__name__}{': ' + words[0][:300] if words else ''}), but converts "
            f"the model with a fixed batch of {fixed} (tried once): declare batch={fixed} (--batch {fixed}), or "
            "export once per batch size the app uses", fixed, err) from err
    if (aliased := _aliased(spec, None, [o.name for o in mlmodel.get_spec().description.output])) is not None:
        raise aliased
    mlmodel.author = AUTHOR
    mlmodel.version = __version__
    mlmodel.short_description = f"{spec.name}: {spec.description} ({spec.weights_source})"
    meta = mlmodel.user_defined_metadata
    # The date would make every day's export differ; the manifest records provenance.
    meta.pop("com.github.apple.coremltools.conversion_date", None)
    meta.update(spec.metadata)
    meta["model"] = spec.name
    meta["precision"] = precision
    meta["weights_source"] = spec.weights_source
    path = folder / f"{spec.name}-{precision}.mlpackage"
    mlmodel.save(str(path))
    return {"path": path.name, "deployment_target": spec.target, "batch": str(spec.batch), "frontend": spec.frontend}


def _convert(ct, spec: ModelSpec, module: torch.nn.Module, compute_precision):
    # float32 named at the interface: from iOS16 coremltools gives an fp16 program fp16 inputs and outputs otherwise
    inputs = [ct.TensorType(name=t.name, shape=_shape(ct, spec.batch, t.shape[1:]), dtype=np.float32)
              for t in spec.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.convert(
            _source(spec, module),
            inputs=inputs,
            states=_states(ct, spec, module),
            outputs=[ct.TensorType(name=t.name, dtype=np.float32) for t in spec.outputs],
            convert_to="mlprogram",
            compute_precision=compute_precision,
            minimum_deployment_target=getattr(ct.target, spec.target),
        )


def _states(ct, spec: ModelSpec, module: torch.nn.Module) -> list | None:
    """The model's state buffers as Core ML states: float16, the one dtype coremltools 9 lets a state hold, so
    every write to a state rounds to float16 whatever the program's compute precision."""
    if not spec.stateful:
        return None
    return [ct.StateType(wrapped_type=ct.TensorType(shape=tuple(b.shape), dtype=np.float16), name=name)
            for name, b in state_buffers(spec, module).items()]


def _converts_fixed(ct, spec: ModelSpec, module: torch.nn.Module, compute_precision) -> bool:
    """Whether `spec` converts with its batch fixed at its smallest declared size (the error path's one try)."""
    fixed = dataclasses.replace(spec, batch=shapes.parse(spec.batch.default))
    try:
        _convert(ct, fixed, module, compute_precision)
    except Exception:
        return False
    return True


def _shape(ct, batch: shapes.Batch, rest: tuple[int, ...]):
    """An input's shape for coremltools: the batch as declared, then the fixed dimensions."""
    if batch.kind == "fixed":
        return (batch.default, *rest)
    if batch.kind == "enumerated":
        return ct.EnumeratedShapes(shapes=[(b, *rest) for b in batch.sizes], default=(batch.default, *rest))
    return (ct.RangeDim(batch.sizes[0], batch.sizes[1], default=batch.default), *rest)


def fp16_selector(fp32_ops: frozenset[str]):
    """coremltools' op_selector for FP16ComputePrecision: every op to fp16 but those making `fp32_ops`."""
    return lambda op: not any(mil_name(o.name) in fp32_ops for o in op.outputs)


def _source(spec: ModelSpec, module: torch.nn.Module):
    """What coremltools converts: a TorchScript trace, or a torch.export program (`spec.frontend`), at the
    declaration's smallest batch."""
    batch = spec.batch
    if spec.frontend == "export":
        if batch.kind == "fixed":
            program = torch.export.export(module, spec.examples(batch=batch.default))
        else:
            low, high = batch.sizes[0], batch.sizes[-1]
            # an example batch of 1 would specialise the dimension: 2 where the declaration allows it
            example = next((b for b in (2, *batch.sizes) if batch.accepts(b)), low)
            dim = torch.export.Dim("batch", min=low, max=high)
            program = torch.export.export(module, spec.examples(batch=example),
                                          dynamic_shapes=tuple({0: dim} for _ in spec.inputs))
        return program.run_decompositions({})
    # check_trace off: modules with eval-mode fast paths (nn.TransformerEncoder) retrace differently
    # and fail the check although the graph is sound; parity against torch is the real check.
    with initial_state(spec, module), traced.branches_refused():  # tracing runs forward: buffers move
        return torch.jit.trace(module, spec.examples(batch=batch.default), check_trace=False)
