"""The backends' names, precisions and bracket options, known without importing torch: the choices
`--backends` declares and checks while parsing. The classes live in `harness.backends` (which imports
torch); tests/harness/test_cli.py keeps the two equal.
"""

from __future__ import annotations

import re

from harness.compute_units import COMPUTE_UNITS
from harness.errors import UsageError

#: A reference, as `harness.backends` reads it.
REFERENCE = re.compile(r"^(?P<name>[\w-]+)(?:@(?P<precision>\w+))?(?:\[(?P<option>[\w-]+)\])?$")
#: name -> (precisions, the values its [option] takes; empty when it takes none)
BACKENDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "torch": (("fp32",), ()),
    "onnxruntime": (("fp32",), ()),
    "coreml": (("fp32", "fp16"), COMPUTE_UNITS),
    "coreml-emulated": (("fp32", "fp16"), ("fp32", "fp16-storage", "fp16")),
    "executorch": (("fp32", "int8"), ("xnnpack", "portable")),
    "executorch-coreml-emulated": (("fp16",), ("fp32", "fp16-storage", "fp16")),
}
#: The option a backend runs with when a reference names none: CoreML's compute units default to ALL;
#: the emulator's profile defaults to the artifact's precision.
DEFAULT_OPTION = {"coreml": lambda precision: "ALL", "coreml-emulated": lambda precision: precision,
                  "executorch": lambda precision: "xnnpack", "executorch-coreml-emulated": lambda precision: precision}
#: How a backend spells its option in a label: CoreML's compute units upper case, ExecuTorch's delegates lower.
OPTION_CASE = {"coreml": str.upper, "executorch": str.lower}
#: Numbers from real CoreML (a Mac or a phone), measured against every other run, and the emulation of it.
DEVICE_BACKEND = "coreml"
EMULATED_BACKEND = "coreml-emulated"
#: The one backend that measures what the model's layers saw (the scale of every allowance).
MEASURING_BACKEND = "torch"
#: What runs when no backend is named: the CoreML path. ExecuTorch (an optional extra, three more exports)
#: runs when named (`--backends torch,executorch`).
DEFAULT = ("torch", "onnxruntime", "coreml", "coreml-emulated")


def choices() -> str:
    """Every reference form, for help texts: `coreml[@fp32|fp16][[CPU_ONLY|...]]`."""
    return ", ".join(name + (f"[@{'|'.join(p)}]" if len(p) > 1 else "") + (f"[[{'|'.join(o)}]]" if o else "")
                     for name, (p, o) in BACKENDS.items())


def check(reference: str) -> str:
    """`reference` (name[@precision][[option]]) when every part is one of the choices, else a UsageError naming it."""
    match = REFERENCE.match(reference.strip())
    if not match:
        raise UsageError(f"cannot read backend reference {reference!r}; write name[@precision][[option]]")
    name, precision, option = match["name"], match["precision"], match["option"]
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; known backends: {choices()}")
    precisions, options = BACKENDS[name]
    if precision is not None and precision not in precisions:
        raise UsageError(f"backend {name!r} has no precision {precision!r}; it has: {', '.join(precisions)}")
    if option is not None and not options:
        raise UsageError(f"backend {name!r} takes no [option]")
    if option is not None and option not in options and option.upper() not in options:
        raise UsageError(f"backend {name!r} has no option {option!r}; it takes: {', '.join(options)}")
    return match[0]


def label(reference: str) -> str:
    """The label a backend made from `reference` carries (`name@precision[option]`, defaults filled in),
    known without creating the backend: results files from a phone are checked without torch."""
    name = REFERENCE.match(check(reference))["name"]
    match = REFERENCE.match(reference.strip())
    precision = match["precision"] or BACKENDS[name][0][0]
    if not BACKENDS[name][1]:
        return f"{name}@{precision}"
    option = match["option"] or DEFAULT_OPTION[name](precision)
    return f"{name}@{precision}[{OPTION_CASE.get(name, str)(option)}]"
