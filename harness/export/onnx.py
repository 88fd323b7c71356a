"""Export to ONNX with torch's exporter: named input/output, dynamic batch, checker-verified."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from harness.spec import ModelSpec


def export_onnx(spec: ModelSpec, module: torch.nn.Module, folder: Path, precision: str) -> dict:
    import onnx

    path = folder / f"{spec.name}.onnx"
    examples = spec.examples(batch=2)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, examples, str(path), dynamo=True, verbose=False, external_data=False,
            input_names=[t.name for t in spec.inputs], output_names=[t.name for t in spec.outputs],
            dynamic_shapes=tuple({0: batch} for _ in spec.inputs),
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return {"path": path.name, "opset": opset, "ir_version": proto.ir_version}
