"""What a traced export cannot keep: a branch taken on a tensor's values.

`torch.jit.trace` (CoreML's TorchScript frontend, and the TorchScript ONNX exporter the harness falls back
to) runs forward once and records the ops it ran. An `if h.sum() > 0:` is decided there, for the example,
and the file keeps that one branch: for other inputs the export computes something else, and a parity run
whose cases happen to take the same branch passes it. torch says so only in a `TracerWarning` ("Converting
a tensor to a Python boolean might cause the trace to be incorrect"), which converters' chatter hides.
`branches_refused` turns that warning into an export failure naming the user's line.

The same warning comes from a branch on a size (`if x.shape[0] == 2`, and torch's own checks of its
arguments' sizes): a trace keeps that one too, but a size is the same for every case of a batch and the
harness judges other batch sizes, so those are left to parity. A warning is a branch on values when it
comes from outside torch's package and its line reads no size (`shape`, `size(`, `dim(`, `len(`, `numel`).
"""

from __future__ import annotations

import contextlib
import linecache
import warnings
from collections.abc import Iterator
from pathlib import Path

#: The TracerWarning torch emits when forward turns a traced tensor's value into a Python bool.
_BOOLEAN = "Converting a tensor to a Python boolean"
#: What a line that branches on a size reads.
_SIZES = ("shape", "size(", "dim(", "len(", "numel")


class DataDependentBranch(RuntimeError):
    """The model branches on a tensor's values: a trace keeps only the branch its example took."""


@contextlib.contextmanager
def branches_refused() -> Iterator[None]:
    """Trace inside this: other warnings stay silenced, a branch on a tensor's value raises `DataDependentBranch`."""
    import torch

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("ignore")
        warnings.filterwarnings("always", message=_BOOLEAN, category=torch.jit.TracerWarning)
        yield
    for branch in seen:
        if not (issubclass(branch.category, torch.jit.TracerWarning) and str(branch.message).startswith(_BOOLEAN)):
            continue
        line = linecache.getline(branch.filename, branch.lineno).strip()
        if _in_torch(branch.filename) or any(word in line for word in _SIZES):
            continue
        raise DataDependentBranch(
            f"the model branches on a tensor's values at {branch.filename}:{branch.lineno}"
            + (f" ({line})" if line else "") + ": a traced export keeps only the branch its example took; "
            "write it with torch.where (both branches computed) or torch.cond")


def _in_torch(filename: str) -> bool:
    import torch

    return Path(filename).resolve().is_relative_to(Path(torch.__file__).resolve().parent)
