"""Export to ExecuTorch `.pte` programs, the format PyTorch's own phone runtime loads.

`torch.export` -> edge dialect -> a program, lowered three ways:
- `executorch-xnnpack@fp32`: the XNNPACK delegate (the CPU path apps ship) takes what it can;
- `executorch-xnnpack@int8`: post-training quantization with XNNPACK's PT2E quantizer (torchao),
  calibrated on the model's own seeded cases, then lowered the same way: the int8 kernels a phone runs;
- `executorch-portable@fp32`: no delegate, ExecuTorch's portable kernels alone;
- `executorch-coreml@fp16`: ExecuTorch's CoreML delegate, as it ships to Apple devices (fp16, iOS 15).
Ops the delegate does not take stay on portable kernels; the details name them (`portable_ops`).
Batch is dynamic (1..MAX_BATCH, or what the program's planned inputs take: `program_batch`) unless
the model fixes it: then the program takes batch 1.
An op the runtime has no kernel for fails the stage here, naming the op, not later at load.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

from harness.calibrate import observed_on_grid
from harness.export.unconvertible import op_name
from harness.pte import program_batch
from harness.spec import ModelSpec

#: The largest batch one call takes; the backend splits a chunk of cases into calls of at most this.
#: Memory for the program's own tensors is planned for it, so it is kept modest.
MAX_BATCH = 256
#: int8 calibration: the model's own cases, from a seed of their own (not the cases parity judges).
CALIBRATION_SEED, CALIBRATION_CASES = 20_290_101, 64
#: What a program's ops run on: a delegate (ops it does not take on portable kernels), or portable kernels alone.
#: The CoreML delegate's programs cannot run off Apple's OSes; the CoreML program they embed is run by
#: the MIL interpreter (`executorch-coreml-emulated`).
DELEGATES = ("xnnpack", "portable", "coreml")


class MissingKernel(RuntimeError):
    """The program needs an operator the ExecuTorch runtime in this install has no kernel for."""


class DataDependentBranch(RuntimeError):
    """The model's code branches on a tensor's values (`if h.sum() > 0:`), which `torch.export` cannot trace."""


#: Where torch.export says the user's code asked for a tensor's value: the file, line and code of that call.
_RAISED_AT = re.compile(r'The following call raised this error:\s*\n\s*File "([^"]+)", line (\d+), in \S+\n\s*(.+)')


def export_xnnpack(spec: ModelSpec, module: torch.nn.Module, folder: Path, precision: str) -> dict:
    return export_executorch(spec, module, folder, "xnnpack", precision)


def export_portable(spec: ModelSpec, module: torch.nn.Module, folder: Path, precision: str) -> dict:
    return export_executorch(spec, module, folder, "portable", precision)


def export_coreml_delegate(spec: ModelSpec, module: torch.nn.Module, folder: Path, precision: str) -> dict:
    return export_executorch(spec, module, folder, "coreml", precision)


def export_executorch(spec: ModelSpec, module: torch.nn.Module, folder: Path, delegate: str, precision: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from executorch.exir import to_edge_transform_and_lower

        program, batch, fixed = _exported(spec, module)
        details: dict = {"delegate": delegate} | ({"batch_fixed": fixed} if fixed else {})
        if precision == "int8":
            program = _quantized(spec, program, batch)
            details["calibration"] = {"seed": CALIBRATION_SEED, "cases": CALIBRATION_CASES,
                                      "scheme": "XNNPACKQuantizer, symmetric, per-channel weights, static activations"}
        edge = to_edge_transform_and_lower(program, partitioner=_partitioners(delegate, precision))
        left = _outside_delegate(edge.exported_program())
        executable = edge.to_executorch()
    _check_kernels(executable, left)
    path = folder / f"{spec.name}-{delegate}-{precision}.pte"
    path.write_bytes(executable.buffer)
    details.update(portable_ops=list(left), fully_delegated=delegate != "portable" and not left,
                   max_batch=program_batch(path))
    return {"path": path.name, **details}


def _exported(spec: ModelSpec, module: torch.nn.Module) -> tuple[torch.export.ExportedProgram, int, str]:
    """The model through `torch.export` with a dynamic batch, or at batch 1 when its code fixes the batch
    (a branch on `x.shape[0]`): the program then takes one case a call, as it would in such an app, and
    the third item says why ("" when the batch is dynamic)."""
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    try:
        return torch.export.export(module, spec.examples(batch=2),  # 2: a batch of 1 would specialise
                                   dynamic_shapes=tuple({0: batch} for _ in spec.inputs)), MAX_BATCH, ""
    except GuardOnDataDependentSymNode as err:  # torch's words are pages of graph and advice on its own internals
        at = _RAISED_AT.search(str(err))
        where = f" at {Path(at[1]).name}:{at[2]} ({at[3].strip()[:120]})" if at else ""
        raise DataDependentBranch(
            f"the model branches on a tensor's values{where}, which torch.export cannot trace: compute both sides "
            "and choose with torch.where, or use torch.cond") from None
    except torch._dynamo.exc.UserError as err:
        if "Constraints violated" not in str(err):
            raise
        said = [line.strip() for line in str(err).splitlines() if line.strip().startswith("- Not all values")]
        why = said[0] if said else "torch.export could not keep the batch dynamic"
        return torch.export.export(module, spec.examples(batch=1)), 1, why[:300]


def _quantized(spec: ModelSpec, program: torch.export.ExportedProgram, batch: int) -> torch.export.ExportedProgram:
    """PT2E: observers inserted by XNNPACK's quantizer, calibrated on the model's seeded cases, converted to
    quantize/dequantize pairs that the XNNPACK partitioner lowers to its int8 kernels."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    feeds = spec.make_cases(CALIBRATION_CASES, CALIBRATION_SEED).feeds  # chunk 0 of parity's cases: the model's own

    def calibrated(dtype: torch.dtype) -> torch.nn.Module:
        prepared = prepare_pt2e(program.module(), quantizer).to(dtype)
        with torch.no_grad():
            for start in range(0, CALIBRATION_CASES, batch):
                prepared(*(torch.from_numpy(np.ascontiguousarray(feeds[t.name][start:start + batch]))
                           .to(dtype) for t in spec.inputs))
        return prepared

    # The observed ranges set the program's scales: measured in float64 (float32 where the graph cannot run in
    # it) and put on an exact grid, so the int8 program is the same bytes whatever CPU exported it.
    try:
        prepared = calibrated(torch.float64)
    except Exception:  # noqa: BLE001 -- a graph holding float32 constants or dtypes: calibrated as it is
        prepared = calibrated(torch.float32)
    observed_on_grid(prepared)
    converted = convert_pt2e(prepared.to(torch.float32))
    examples = spec.examples(batch=2 if batch > 1 else 1)
    shapes = tuple({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)} for _ in spec.inputs) if batch > 1 else None
    return torch.export.export(converted, examples, dynamic_shapes=shapes)


def _partitioners(delegate: str, precision: str) -> list:
    if delegate == "portable":
        return []
    if delegate == "coreml":  # what the harness's own CoreML export targets: an mlprogram for iOS 15, fp16
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner

        from harness.quiet import coremltools

        ct = coremltools()
        specs = CoreMLBackend.generate_compile_specs(
            compute_precision={"fp16": ct.precision.FLOAT16, "fp32": ct.precision.FLOAT32}[precision],
            minimum_deployment_target=ct.target.iOS15, model_type=CoreMLBackend.MODEL_TYPE.MODEL)
        return [CoreMLPartitioner(compile_specs=specs)]
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return [XnnpackPartitioner()]


def _outside_delegate(program) -> dict:
    """The ops of an edge program that no delegate took (they run on portable kernels): `aten::atan2` -> its
    first node (what the torch op and module are read from)."""
    left: dict = {}
    for node in program.graph.nodes:
        if node.op == "call_function" and type(node.target).__name__ == "EdgeOpOverload":
            left.setdefault(op_name(str(node.target.__name__)), node)
    return dict(sorted(left.items()))


def _check_kernels(executable, left: dict) -> None:
    """Every operator the program calls has a kernel in this runtime, else `MissingKernel` naming it.

    The ExecuTorch runtime would refuse the program only at load ("Missing operator", in its log). The
    edge node the operator came from is held in `node` while raising, so the export's failure names the
    torch op and the module it is in (`harness.export.unconvertible` reads it from the traceback)."""
    from harness import quiet

    known = quiet.imported("executorch.runtime").Runtime.get().operator_registry.operator_names
    for plan in executable.executorch_program.execution_plan:
        for op in plan.operators:
            kernel = f"{op.name}.{op.overload}" if op.overload else op.name
            if kernel not in known:
                node = left.get(op.name)  # noqa: F841 -- read from the traceback
                raise MissingKernel(f"the ExecuTorch runtime has no kernel for {kernel}")
