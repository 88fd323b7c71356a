"""The options every face shares (the CLI, the API and the pytest plugin): one check and one default each.

A flag's text and an argument's value go through the same function here, so `--n 0`, `api.parity(n=0)`
and `harness_parity(n=0)` are refused with the same line, and a call that gives nothing gets the same
default whichever face it came through. Importing this needs no torch (the CLI's help stays fast):
backends are made only when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness import shapes, targets
from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.backends import Backend
    from harness.parity.tolerances import Overrides, Policy

#: Cases when none are given, on every face: enough that a flip near the threshold shows, a few seconds.
CASES = 1000
SEED = 0
#: Cases of a run that keeps every output (`run`, `parity --save`): about 1 KB a case and backend
#: for trendsplit. `parity` alone streams its cases in chunks, with memory flat in their number.
MAX_SAVED_CASES = 100_000
MAX_STREAMED_CASES = 10**12


def whole(value: object, what: str, low: int, high: int) -> int:
    """`value` (an int, or its text) when it is a whole number in [low, high]; else a UsageError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UsageError(f"{what} must be a whole number, got {type(value).__name__} {value!r:.40}")
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{what} must be a whole number, got {value!r:.40}") from None
    if not low <= number <= high:
        raise UsageError(f"{what} must be between {low:,} and {high:,}, got {number:,}")
    return number


def cases(n: object = None, *, saved: bool = False) -> int:
    """The number of cases: `CASES` when not given; at most `MAX_SAVED_CASES` when every output is kept."""
    if n is None:
        return CASES
    return whole(n, "the number of cases", 1, MAX_SAVED_CASES if saved else MAX_STREAMED_CASES)


def seed(value: object = None) -> int:
    return SEED if value is None else whole(value, "the seed", 0, 2**63 - 1)


def backends(refs: str | Sequence[str] | None = None, **options: str) -> list[Backend]:
    """Backends from a comma list or a list of references (`torch`, `coreml@fp16[CPU_ONLY]`); every
    backend when none are named."""
    from harness.backends import default_backends, parse_backends

    return default_backends(**options) if refs is None else parse_backends(refs, **options)


def policy(name: str | None = None) -> Policy | None:
    """The policy named to judge every pair, or None: each pair by its precisions."""
    from harness.parity.tolerances import get_policy

    return None if name is None else get_policy(name)


def overrides(atol: object = None, rtol: object = None) -> Overrides:
    """The user's atol/rtol per policy (`{"fp32": 1e-4}`, `"fp32=1e-4"`, or a list of those, later ones winning)."""
    from harness.parity.tolerances import Overrides

    return Overrides.of(atol, rtol)


def target(value: object = None) -> str | None:
    """The CoreML deployment target asked for (`iOS17`), or None: the model's own (`targets.DEFAULT` unless it
    was described with another)."""
    return None if value is None else targets.check(value)


def batch(value: object = None) -> shapes.Batch | None:
    """The batch the CoreML export is to accept (`4`, `(1, 8, 32)`, `"1..64"`, `range(1, 65)`, `"flexible"`), or
    None: the model's own (flexible unless it was described with another)."""
    return None if value is None else shapes.parse(value)
