"""What an ExecuTorch `.pte` program holds, read without running it: the batch it takes, and the CoreML
program its CoreML delegate embeds (which the MIL interpreter runs where CoreML cannot: Linux)."""

from __future__ import annotations

from pathlib import Path

from harness import quiet
from harness.errors import HarnessError


class PteError(HarnessError):
    """A `.pte` file that does not hold what was asked of it; the message says what."""


def program_batch(path: Path) -> int:
    """The largest batch the program takes in one call, as its inputs' planned capacity says.

    It can be less than the export asked for: ExecuTorch 1.5.1 plans the input of an XNNPACK-delegated
    convolution for a batch of 15 whatever the dynamic dimension's maximum (a linear layer keeps it)."""
    runtime = quiet.imported("executorch.runtime").Runtime.get()
    return planned_batch(runtime.load_program(Path(path)).metadata("forward"))


def planned_batch(meta) -> int:
    """A method's batch capacity from its metadata (`Program.metadata`): its inputs' smallest first dimension."""
    return min(int(meta.input_tensor_meta(i).sizes()[0]) for i in range(meta.num_inputs()))


def extract_coreml(path: Path, into: Path) -> Path:
    """The `.mlpackage` that the program's one CoreML delegate embeds, written under `into`; its path.

    ExecuTorch's CoreML backend stores a folder (the package, its metadata) flattened into the delegate's
    data, which its own `unflatten_directory_contents` restores."""
    executorchcoreml = quiet.imported("executorch.backends.apple.coreml.executorchcoreml")
    path = Path(path)
    program = _program(path)
    blob = program.backend_delegate_data[_coreml_delegate(program, path).processed.index].data
    if not executorchcoreml.unflatten_directory_contents(bytes(blob), str(into)):
        raise PteError(f"{path.name}: its CoreML delegate's data is not a folder ExecuTorch wrote")
    found = sorted(Path(into).rglob("*.mlpackage"))
    if len(found) != 1:
        raise PteError(f"{path.name}: its CoreML delegate holds {len(found)} .mlpackage folders; one is read")
    return found[0]


def coreml_wiring(path: Path, delegate_inputs: int) -> tuple[list[int], list[tuple[str, int]]]:
    """How the program wires its CoreML delegate (which takes `delegate_inputs` inputs): for each delegate
    input, the program input it is fed; for each program output, `("delegate", i)` (the delegate's i-th output)
    or `("input", j)` (program input j, passed through).

    The delegate orders its inputs and outputs its own way (by where they are first used or made, not as the
    model returns them) and holds neither an input the model returns as it came nor an output returned twice:
    the program's delegate call and output list say which is which, as the runtime reads them."""
    path = Path(path)
    program = _program(path)
    delegate = _coreml_delegate(program, path)
    plan = next(p for p in program.execution_plan if any(d is delegate for d in p.delegates))
    calls = [i.instr_args for chain in plan.chains for i in chain.instructions
             if type(i.instr_args).__name__ == "DelegateCall"
             and plan.delegates[i.instr_args.delegate_index] is delegate]
    if len(calls) != 1:
        raise PteError(f"{path.name} calls its CoreML delegate {len(calls)} times; one call is read")
    args = list(calls[0].args)
    feeds, made = args[:delegate_inputs], args[delegate_inputs:]
    inputs = list(plan.inputs)
    if any(v not in inputs for v in feeds):
        raise PteError(f"{path.name}: its CoreML delegate takes a value that is not one of the program's inputs "
                       "(ops run before it); the emulation runs programs the delegate takes whole")
    outputs = []
    for value in plan.outputs:
        if value in made:
            outputs.append(("delegate", made.index(value)))
        elif value in inputs:
            outputs.append(("input", inputs.index(value)))
        else:
            raise PteError(f"{path.name}: an output of the program is made outside its CoreML delegate; "
                           "the emulation runs programs the delegate takes whole")
    return [inputs.index(v) for v in feeds], outputs


def _program(path: Path):
    serialize = quiet.imported("executorch.exir._serialize._program")
    program = serialize.deserialize_pte_binary(Path(path).read_bytes())
    return getattr(program, "program", program)  # newer releases wrap it with its named data


def _coreml_delegate(program, path: Path):
    delegates = [d for plan in program.execution_plan for d in plan.delegates if d.id == "CoreMLBackend"]
    if len(delegates) != 1:
        raise PteError(f"{Path(path).name} holds {len(delegates)} CoreML delegates; one is read")
    return delegates[0]
