"""The options every face shares (the CLI, the API and the pytest plugin): one check and one default each.

A flag's text and an argument's value go through the same function here, so `--n 0`, `api.parity(n=0)`
and `harness_parity(n=0)` are refused with the same line, and a call that gives nothing gets the same
default whichever face it came through. Importing this needs no torch (the CLI's help stays fast):
backends are made only when asked for.
"""

from __future__ import annotations

import os
import re
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
#: Where parity's chunks run when no `cluster` is given: this variable's value, else here in one process.
CLUSTER_VARIABLE = "HARNESS_CLUSTER"
#: Worker processes a `local:W` cluster may start.
MAX_LOCAL_WORKERS = 256
_LOCAL = re.compile(r"local(?::(.*))?")
_ADDRESS = re.compile(r"(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")


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


#: What `--cluster` (or `cluster=`) takes to run in this process even where `HARNESS_CLUSTER` is set.
NO_CLUSTER = "none"


def cluster_flag(value: object) -> str:
    """`--cluster`'s value checked (`cluster`), kept as `none` when it says so: None would mean not given."""
    return NO_CLUSTER if isinstance(value, str) and value.strip() == NO_CLUSTER else cluster(value)


def cluster(value: object = None) -> str | None:
    """Where parity's chunks run: None (here, one process), `local` or `local:W` (a Dask LocalCluster of one
    worker process per core, or W), or a Dask scheduler's address (`tcp://host:8786`; `host:8786` means tcp).
    Not given: the `HARNESS_CLUSTER` environment variable's value, checked the same way; `none` runs here
    whatever the variable says."""
    if isinstance(value, str) and value.strip() == NO_CLUSTER:
        return None
    what = "the cluster"
    if value is None:
        value = os.environ.get(CLUSTER_VARIABLE) or None
        what = f"{CLUSTER_VARIABLE}"
        if value is None:
            return None
    if not isinstance(value, str):
        raise UsageError(f"{what} must be local[:W] or a scheduler address like tcp://host:8786, "
                         f"got {type(value).__name__} {value!r:.40}")
    text = value.strip()
    if (local := _LOCAL.fullmatch(text)) is not None:
        if local[1] is None:
            return "local"
        return f"local:{whole(local[1], f'the worker processes of {what} local:W', 1, MAX_LOCAL_WORKERS)}"
    address = _ADDRESS.fullmatch(text)
    if address is None or not 1 <= int(address[3]) <= 65535:
        raise UsageError(f"{what} {value!r:.80} is neither local[:W] nor a scheduler address like tcp://host:8786")
    return f"{address[1] or 'tcp'}://{address[2]}:{int(address[3])}"
