"""Export to ONNX with torch's exporters: named input/output, dynamic batch, checker-verified.

torch has two: the dynamo exporter (`torch.export`, the default) and the TorchScript one
(`dynamo=False`). Each converts what the other cannot (torch 2.13: dynamo converts
`F.scaled_dot_product_attention` on 4-D query/key/value but not on 3-D ones, which the
TorchScript exporter converts), so a model dynamo fails on is exported again with the other,
and the artifact's details name the exporter that wrote the file.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from harness import quiet
from harness.export import traced
from harness.spec import ModelSpec

#: Which exporter wrote the file, as the manifest records it: `dynamo=True`, or `dynamo=False`.
DYNAMO, TORCHSCRIPT = "dynamo", "torchscript"


class OnnxExportFailed(RuntimeError):
    """Both of torch's exporters failed; the message names each one's reason."""


def export_onnx(spec: ModelSpec, module: torch.nn.Module, folder: Path, precision: str) -> dict:
    import onnx

    path = folder / f"{spec.name}.onnx"
    details: dict = {}
    try:
        _export(spec, module, path, dynamo=True)
        _check_dynamic_batch(path)
        details["exporter"] = DYNAMO
    except Exception as dynamo:  # any converter failure: the other exporter gets its turn
        path.unlink(missing_ok=True)
        reason = _first_line(dynamo)
        try:
            _export(spec, module, path, dynamo=False)
        except traced.DataDependentBranch as branch:  # the cause, whole: its line and its fix come last
            raise OnnxExportFailed(f"{type(branch).__name__}: {branch} (the dynamo exporter refused it too: "
                                   f"{reason})") from branch
        except Exception as torchscript:
            raise OnnxExportFailed(f"the dynamo exporter: {reason}; the TorchScript exporter (dynamo=False): "
                                   f"{_first_line(torchscript)}") from torchscript
        details.update(exporter=TORCHSCRIPT, dynamo_failure=reason)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return {"path": path.name, "opset": opset, "ir_version": proto.ir_version, **details}


def _export(spec: ModelSpec, module: torch.nn.Module, path: Path, dynamo: bool) -> None:
    examples = spec.examples(batch=2)
    names = dict(input_names=[t.name for t in spec.inputs], output_names=[t.name for t in spec.outputs])
    if dynamo:
        batch = torch.export.Dim("batch", min=1, max=4096)
        shapes = dict(dynamic_shapes=tuple({0: batch} for _ in spec.inputs))
    else:
        shapes = dict(dynamic_axes={t.name: {0: "batch"} for t in spec.inputs + spec.outputs})
    with warnings.catch_warnings(), torchlib_listed_once():
        warnings.simplefilter("ignore")
        with nullcontext() if dynamo else traced.branches_refused():  # dynamo refuses such a branch itself
            torch.onnx.export(module, examples, str(path), dynamo=dynamo, verbose=False, external_data=False,
                              **names, **shapes)


class FixedBatch(RuntimeError):
    """An export asked for a dynamic batch that holds a fixed one instead."""


def _check_dynamic_batch(path: Path) -> None:
    """The dynamo exporter specialises the batch to the example's, without an error, when the model's code reads
    its batch size (`if x.shape[0] == 2`): onnxruntime would then refuse every other batch. Raised, the TorchScript
    exporter (which keeps `dynamic_axes`) gets its turn."""
    import onnx

    for value in onnx.load(str(path), load_external_data=False).graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_param and dims[0].HasField("dim_value"):
            raise FixedBatch(f"it fixed the batch of input {value.name} at {dims[0].dim_value} (the model's code "
                             "reads its batch size)")


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in quiet.plain(str(err)).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0][:300] if lines else ''}"


_listing: dict[tuple[int, int], list] = {}
_listing_lock = threading.Lock()


@contextmanager
def torchlib_listed_once() -> Iterator[None]:
    """torch's exporter lists onnxscript's ~560 op functions once per process, not once per export.

    Each export rebuilds its op registry, and the listing re-parses every function's source to
    read its domain: 0.6 s of a small model's 1.5 s export. The listing depends only on what is
    registered, so it is kept, keyed by the registry's size (an op registered later lists anew).
    Under another torch or onnxscript, whose insides differ, the export runs as it comes.
    """
    try:
        from onnxscript.function_libs.torch_lib import ops, registration  # noqa: F401 (importing registers)
        from torch.onnx._internal.exporter import _registration

        apis = _registration.onnxscript_apis
        listing = apis.get_torchlib_ops
    except (ImportError, AttributeError):
        yield
        return

    def listed_once() -> list:
        functions = list(registration.default_registry.values())
        key = (len(functions), sum(len(f.overloads) + len(f.complex) for f in functions))
        if key not in _listing:
            _listing[key] = listing()
        return _listing[key]

    with _listing_lock:  # the attribute is swapped for this export alone
        had_own = "get_torchlib_ops" in vars(apis)
        apis.get_torchlib_ops = listed_once
        try:
            yield
        finally:
            if had_own:
                apis.get_torchlib_ops = listing
            else:  # torch's lazy module: drop ours and its lookup falls through to the module again
                del apis.get_torchlib_ops
