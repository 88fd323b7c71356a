"""Export to a CoreML mlprogram `.mlpackage` at fp32 or fp16 compute precision, for the model's deployment target.

The interface stays float32 in both precisions (the app fills a float32 MLMultiArray);
an fp16 program casts at its input and output. Batch is flexible, 1..MAX_BATCH.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from harness.spec import ModelSpec

MAX_BATCH = 1024
AUTHOR = "trendsplit-harness"


def export_coreml(spec: ModelSpec, module: torch.nn.Module, folder: Path, precision: str) -> dict:
    from harness.quiet import coremltools

    ct = coremltools()

    from harness import __version__

    compute_precision = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}[precision]
    batch = ct.RangeDim(1, MAX_BATCH, default=1)
    # float32 named at the interface: from iOS16 coremltools gives an fp16 program fp16 inputs and outputs otherwise
    inputs = [ct.TensorType(name=t.name, shape=tuple(batch if d is None else d for d in t.shape), dtype=np.float32)
              for t in spec.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlmodel = ct.convert(
            _source(spec, module),
            inputs=inputs,
            outputs=[ct.TensorType(name=t.name, dtype=np.float32) for t in spec.outputs],
            convert_to="mlprogram",
            compute_precision=compute_precision,
            minimum_deployment_target=getattr(ct.target, spec.target),
        )
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
    return {"path": path.name, "deployment_target": spec.target, "max_batch": MAX_BATCH, "frontend": spec.frontend}


def _source(spec: ModelSpec, module: torch.nn.Module):
    """What coremltools converts: a TorchScript trace, or a torch.export program (`spec.frontend`)."""
    if spec.frontend == "export":
        batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        program = torch.export.export(module, spec.examples(batch=2),  # 2: a batch of 1 would specialise
                                      dynamic_shapes=tuple({0: batch} for _ in spec.inputs))
        return program.run_decompositions({})
    # check_trace off: modules with eval-mode fast paths (nn.TransformerEncoder) retrace differently
    # and fail the check although the graph is sound; parity against torch is the real check.
    return torch.jit.trace(module, spec.examples(batch=1), check_trace=False)
