"""What an ExecuTorch `.pte` program holds, read without running it: the batch it takes, and the CoreML
program its CoreML delegate embeds (which the MIL interpreter runs where CoreML cannot: Linux)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError


class PteError(HarnessError):
    """A `.pte` file that does not hold what was asked of it; the message says what."""


def program_batch(path: Path) -> int:
    """The largest batch the program takes in one call, as its inputs' planned capacity says.

    It can be less than the export asked for: ExecuTorch 1.5.1 plans the input of an XNNPACK-delegated
    convolution for a batch of 15 whatever the dynamic dimension's maximum (a linear layer keeps it)."""
    from executorch.runtime import Runtime

    return planned_batch(Runtime.get().load_program(Path(path)).metadata("forward"))


def planned_batch(meta) -> int:
    """A method's batch capacity from its metadata (`Program.metadata`): its inputs' smallest first dimension."""
    return min(int(meta.input_tensor_meta(i).sizes()[0]) for i in range(meta.num_inputs()))


def extract_coreml(path: Path, into: Path) -> Path:
    """The `.mlpackage` that the program's one CoreML delegate embeds, written under `into`; its path.

    ExecuTorch's CoreML backend stores a folder (the package, its metadata) flattened into the delegate's
    data, which its own `unflatten_directory_contents` restores."""
    from executorch.backends.apple.coreml import executorchcoreml
    from executorch.exir._serialize._program import deserialize_pte_binary

    path = Path(path)
    program = deserialize_pte_binary(path.read_bytes())
    program = getattr(program, "program", program)  # newer releases wrap it with its named data
    delegates = [d for plan in program.execution_plan for d in plan.delegates if d.id == "CoreMLBackend"]
    if len(delegates) != 1:
        raise PteError(f"{path.name} holds {len(delegates)} CoreML delegates; one is read")
    blob = program.backend_delegate_data[delegates[0].processed.index].data
    if not executorchcoreml.unflatten_directory_contents(bytes(blob), str(into)):
        raise PteError(f"{path.name}: its CoreML delegate's data is not a folder ExecuTorch wrote")
    found = sorted(Path(into).rglob("*.mlpackage"))
    if len(found) != 1:
        raise PteError(f"{path.name}: its CoreML delegate holds {len(found)} .mlpackage folders; one is read")
    return found[0]
