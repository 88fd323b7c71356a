"""The encoding's errors: one class per broken rule, each with a stable string `code`.

The Swift bridge's `TrendSplitError` uses the same strings, so an app and the kit name a
failure identically.
"""

from __future__ import annotations

from harness.toolkit import HarnessError


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


class UnsupportedEncodingVersion(HarnessError, ValueError):
    """A caller asked for an encoding version the kit does not define (not an input rule)."""

    code = "unsupported_version"


class EncodingVersionMismatch(HarnessError, ValueError):
    """A model trained on one encoding version was handed inputs encoded with another."""

    code = "encoding_version_mismatch"


#: Every encoding rule's error, in the contract table's order up to encoding v1 (the Swift enum
#: lists its cases, and its server its codes, in the same order: a code's position is its byte on
#: the wire, so the order never changes). The order of the checks is the "Checks" table of docs/trendsplit/encodings.md:
#: `too_many_points` first, from the length alone, then `bad_point`, then the rest as listed.
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
