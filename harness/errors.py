"""One exception class per broken rule, all under `HarnessError`.

Encoding errors carry a stable string `code`; the Swift bridge's `TrendSplitError`
uses the same strings, so an app and the harness name a failure identically.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """The caller named something that does not exist (a model, a backend, a precision)."""


class ExportError(HarnessError):
    """An export stage failed; `stage` names it (e.g. 'onnx', 'coreml-fp16')."""

    def __init__(self, stage: str, reason: str, output: str = ""):
        super().__init__(f"export stage {stage!r} failed: {reason}")
        self.stage = stage
        self.reason = reason
        self.output = output  # what the converter printed and said, for the user to read


class BackendUnavailable(HarnessError):
    """A backend cannot run on this machine; the message says why."""


class EncodingError(HarnessError, ValueError):
    """An input the canonical encoding refuses. `code` is stable across Python and Swift."""

    code: str = "encoding_error"

    def __init__(self, message: str, *, index: int | None = None):
        prefix = f"example {index}: " if index is not None else ""
        super().__init__(f"{self.code}: {prefix}{message}")
        self.detail = message
        self.index = index


class BadPoint(EncodingError):
    code = "bad_point"


class TooFewPoints(EncodingError):
    code = "too_few_points"


class TooManyPoints(EncodingError):
    code = "too_many_points"


class NonFiniteValue(EncodingError):
    code = "non_finite"


class UnsortedX(EncodingError):
    code = "unsorted_x"


class ZeroXRange(EncodingError):
    code = "zero_x_range"


class EncodingOverflow(EncodingError):
    code = "encoding_overflow"


#: In the order the encoder checks them; the Swift enum lists its cases in the same order.
ENCODING_ERRORS: tuple[type[EncodingError], ...] = (
    BadPoint,
    TooFewPoints,
    TooManyPoints,
    NonFiniteValue,
    UnsortedX,
    ZeroXRange,
    EncodingOverflow,
)

ERROR_CODES: tuple[str, ...] = tuple(e.code for e in ENCODING_ERRORS)
