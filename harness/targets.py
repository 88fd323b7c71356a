"""The deployment target a CoreML export is made for: the oldest iOS the app ships the model to.

A later target lets coremltools use the ops and weight types that iOS brought (iOS16: compressed
weights; iOS17: activation quantization; iOS18: attention, states, sub-byte weights); the program
then records that target's opset (`CoreML5` is iOS15, one below the iOS number), which the
artifact check reads back. Known without coremltools.
"""

from __future__ import annotations

from harness.errors import UsageError

TARGETS = ("iOS15", "iOS16", "iOS17", "iOS18")
#: Every export's target unless the model or the caller names another (the oldest: runs on every device).
DEFAULT = "iOS15"


def check(value: object) -> str:
    """`value` as a target's name (`iOS17`; `ios17` and `17` are read too); else a UsageError naming the choices."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is not None:
        number = text[3:] if text.lower().startswith("ios") else text
        name = f"iOS{number}"
        if name in TARGETS:
            return name
    raise UsageError(f"unknown deployment target {value!r:.40}; known: {', '.join(TARGETS)}")


def opset(target: str) -> str:
    """The opset a program converted for `target` records: iOS15 -> CoreML5."""
    return f"CoreML{int(check(target)[3:]) - 10}"


def of_opset(name: str) -> str:
    """The target a program's opset names (`CoreML7` -> iOS17); the opset itself when it is none of `TARGETS`."""
    return next((t for t in TARGETS if opset(t) == name), name)
