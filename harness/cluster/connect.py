"""Reaching the cluster: a scheduler's address, or `local[:W]` (a LocalCluster of worker processes here).

Every wait is bounded: connecting gives up after `CONNECT_SECONDS`, and a scheduler lost mid-run ends
the run (`ClusterError`, exit 1) naming its address, never a hang. Dask's own log lines stay off the
harness's output (the harness says what happened: workers lost, chunks re-run); its traceback of a lost
connection becomes one line.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from harness.errors import HarnessError, UsageError

if TYPE_CHECKING:
    from distributed import Client

#: Seconds to reach a scheduler before giving up on it.
CONNECT_SECONDS = 10.0
#: Seconds a run waits for a scheduler whose connection dropped to come back.
LOST_SECONDS = 10.0
#: Loggers whose lines Dask would print on the harness's output.
DASK_LOGGERS = ("distributed", "dask", "tornado", "asyncio")


class ClusterError(HarnessError):
    """The cluster could not do the work: no scheduler there, lost mid-run, or a worker's answer refused."""


def distributed():
    """The `distributed` module, or a UsageError saying which extra to install."""
    try:
        import distributed as module
    except ImportError:
        raise UsageError("running on a cluster needs Dask: pip install 'trendsplit-harness[cluster]'") from None
    return module


def local_workers(address: str) -> int | None:
    """W of `local:W` (one per usable core for `local`); None for a scheduler's address."""
    if not address.startswith("local"):
        return None
    _, _, count = address.partition(":")
    if count:
        return int(count)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """Dask's loggers silenced for the run (and restored after): each package's, and each of its modules' that
    has a level of its own (Dask's configuration sets some)."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in DASK_LOGGERS]
    loggers = [logging.getLogger(name) for name in {*DASK_LOGGERS, *names}]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def connect(address: str, say: Callable[[str], None]) -> Iterator[Client]:
    """A client of the cluster at `address` (`local[:W]` starts one here, closed after)."""
    dask = distributed()
    with quiet_dask(), contextlib.ExitStack() as stack:
        workers = local_workers(address)
        if workers is not None:
            say(f"starting a local cluster of {workers} worker process{'es' if workers > 1 else ''}")
            cluster = stack.enter_context(dask.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0",
                silence_logs=logging.CRITICAL + 1))
            target = cluster
        else:
            target = address
            if address.startswith("tls://") and dask.Security().get_connection_args("client")["ssl_context"] is None:
                raise UsageError(f"{address} needs Dask's TLS configuration: its certificates (distributed.comm.tls"
                                 ".ca-file, .client.cert and .client.key) in Dask's configuration")
            _answers(dask, address)
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always", dask.versions.VersionMismatchWarning)
                client = dask.Client(target, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"no Dask scheduler answered at {address} within {CONNECT_SECONDS:g} s") from err
        for warning in seen:
            if isinstance(warning.message, dask.versions.VersionMismatchWarning):
                say(_versions(str(warning.message)))
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        stack.callback(client.close)
        if workers is None:
            say(f"connected to the Dask scheduler at {address}")
        else:
            exit_quickly(client)
        yield client


def _versions(table: str) -> str:
    """Dask's table of mismatched versions (a warning of many lines) as one line."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()
            if line.startswith("|")]
    if len(rows) < 2:
        return f"Dask's versions differ across the cluster: {' '.join(table.split())[:200]}"
    heads = [h.lower() for h in rows[0][1:]]
    packages = [f"{row[0]} ({', '.join(f'{h} {v}' for h, v in zip(heads, row[1:], strict=False) if v != 'None')})"
                for row in rows[1:]]
    return f"Dask's versions differ across the cluster: {'; '.join(packages)}"


def _answers(dask, address: str) -> None:
    """A Dask scheduler answers at `address` within `CONNECT_SECONDS`, else ClusterError naming it. Asked here
    first, on a loop of its own with the wait bounded: Dask's own connect waits for the other end's handshake
    without a bound, and a server that is not a scheduler (an HTTP server on the port) never sends one."""

    async def identity():
        comm = await dask.comm.connect(address, timeout=CONNECT_SECONDS,
                                       **dask.Security().get_connection_args("client"))
        try:
            await comm.write({"op": "identity", "n_workers": 0})
            return await comm.read()
        finally:
            comm.abort()

    answer: list = []

    def ask() -> None:
        try:
            answer.append(asyncio.run(asyncio.wait_for(identity(), CONNECT_SECONDS)))
        except BaseException as err:  # noqa: BLE001 - said below, on the caller's thread
            answer.append(err)

    asking = threading.Thread(target=ask, daemon=True)  # a loop of its own, whatever the caller runs
    asking.start()
    asking.join(CONNECT_SECONDS + 5)
    got = answer[0] if answer else TimeoutError()
    if isinstance(got, OSError | TimeoutError):
        raise ClusterError(f"no Dask scheduler answered at {address} within {CONNECT_SECONDS:g} s") from got
    if isinstance(got, BaseException) or not isinstance(got, dict) or got.get("type") != "Scheduler":
        what = f"{type(got).__name__}: {str(got).splitlines()[0] if str(got) else ''}" \
            if isinstance(got, BaseException) else f"{str(got)[:60]!r}"
        raise ClusterError(f"what answered at {address} is not a Dask scheduler ({what})")


def exit_quickly(client: Client) -> None:
    """The workers of a cluster this process started skip Python's finalisation when they stop: with torch
    loaded it takes seconds, which closing the cluster would wait for (they hold nothing left to write)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class QuickExit(WorkerPlugin):  # set up on every worker, those that join later (a restarted one) included
        def setup(self, worker) -> None:
            atexit.register(_exit)

    client.register_plugin(QuickExit(), name="harness-quick-exit")


def _exit() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def lost(address: str, err: BaseException | None = None) -> ClusterError:
    why = f" ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})" if err is not None else ""
    return ClusterError(f"lost the Dask scheduler at {address}{why}: the run stopped, nothing was reported")


def alive(client: Client) -> list[str]:
    """The addresses of the workers the scheduler knows now: asked of the scheduler, never read from the
    client's cached identity, which Dask's periodic refresh replaces with one without workers (a run would
    then say every worker lost)."""
    return sorted(client.sync(client.scheduler.identity, n_workers=-1)["workers"])
