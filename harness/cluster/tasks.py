"""Tasks on the cluster, results taken as they finish: a bounded number in flight, every wait bounded.

`as_finished` is the loop parity's chunks and the tables' rows share: it keeps at most a few tasks per
worker in flight (memory flat however many there are), says when workers are lost or join, and turns a
lost scheduler into one `ClusterError` naming its address, a failed task into one naming the task, and
(with a time limit) a task that never finishes into one naming the tasks then running and the limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterator

from harness.cluster.connect import LOST_SECONDS, ClusterError, alive, distributed, lost
from harness.errors import HarnessError

#: Tasks in flight per worker: one running, one waiting on the worker; more would only wait in memory.
IN_FLIGHT_PER_WORKER = 2
#: What a future raises once the client lost its scheduler.
CANCELLED = (asyncio.CancelledError, concurrent.futures.CancelledError)
#: Seconds between looks at the workers while waiting for results.
POLL_SECONDS = 1.0


def submit(client, address: str, function: Callable, *args, key: str):
    """`client.submit(function, *args)`, a lost scheduler said as `ClusterError`."""
    dask = distributed()
    try:
        return client.submit(function, *args, key=key, pure=False)
    except (OSError, dask.comm.CommClosedError) as err:
        raise lost(address, err) from None


def as_finished(client, start: Callable[[int], object], count: int, address: str, say: Callable[[str], None], *,
                what: str, window: int | None = None, limit: float | None = None,
                name: Callable[[int], str] | None = None) -> Iterator[tuple[int, object, int]]:
    """(index, result, workers alive) for tasks 0..count-1 as each finishes; `start(i)` submits task i.
    At most `window` in flight (default: `IN_FLIGHT_PER_WORKER` per worker alive).

    `limit`: seconds a task may run. When no task finishes for that long while some are in flight, the run ends
    (`ClusterError` naming the running tasks, `name(i)`, and the limit): a worker's current task started no
    earlier than the last result, the last submission or the last change of workers, so each ran that long."""
    dask = distributed()
    flight: dict = {}
    finishing = dask.as_completed(loop=client.loop)
    started, quiet_since, watch = 0, None, Watch(client, address, say, what)
    clock = Stall(limit, name or (lambda i: f"{what} {i}"), address)
    try:
        while started < count or flight:
            workers = watch.look() if window is None or limit is not None else len(watch.workers)
            clock.workers(watch.workers)
            while started < count and len(flight) < (window or max(2, IN_FLIGHT_PER_WORKER * max(1, workers))):
                future = start(started)
                flight[future] = started
                finishing.add(future)
                started += 1
                clock.reset()
            done = _finished(finishing, POLL_SECONDS)
            if any(f.cancelled() for f in done):  # what Dask does to every future once the scheduler is gone
                raise lost(address)
            if client.status != "running":  # the connection dropped: Dask tries to reconnect, for a bounded time
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > LOST_SECONDS:
                    raise lost(address)
                continue
            quiet_since = None
            if not done:
                clock.check(client, flight)
                continue
            clock.reset()
            workers = watch.look()  # a task re-run: its worker's loss is said first
            for future in sorted(done, key=flight.get):
                index = flight.pop(future)
                yield index, _result(future, clock.name(index)), workers
    except (OSError, dask.comm.CommClosedError, *CANCELLED) as err:
        raise lost(address, err) from None
    finally:
        if flight and client.status == "running":
            client.cancel(list(flight))


class Watch:
    """The workers the scheduler knows, looked at between results: losses and arrivals said as they happen."""

    def __init__(self, client, address: str, say: Callable[[str], None], what: str):
        self.client, self.address, self.say, self.what = client, address, say, what
        self.workers: list[str] = []
        self.first = True

    def look(self) -> int:
        """How many workers are alive now."""
        now = alive(self.client)
        gone, came = sorted(set(self.workers) - set(now)), sorted(set(now) - set(self.workers))
        if gone:
            where = "elsewhere" if now else "once a worker joins"
            self.say(f"lost worker{'s' if len(gone) > 1 else ''} {', '.join(gone)}: the scheduler runs "
                     f"{'their' if len(gone) > 1 else 'its'} {self.what}s {where}")
        if came and self.workers:
            self.say(f"worker{'s' if len(came) > 1 else ''} joined: {', '.join(came)}")
        if not now and (self.workers or self.first):
            self.say(f"waiting for workers at {self.address}")
        self.workers, self.first = now, False
        return len(now)


class Stall:
    """The time since anything could have started a task: the last result, submission or change of workers; and
    since the last worker went (a run with none waits for one to join, as long as a task may run)."""

    def __init__(self, limit: float | None, name: Callable[[int], str], address: str = "the scheduler"):
        self.limit, self.name, self.address = limit, name, address
        self.since, self.seen, self.empty = time.monotonic(), None, None

    def reset(self) -> None:
        self.since = time.monotonic()

    def workers(self, now: list[str]) -> None:
        if not now:
            self.empty = self.empty or time.monotonic()
        else:
            self.empty = None
        if now != self.seen or not now:  # a lost worker's tasks start again elsewhere, a new one takes waiting ones
            self.seen = list(now)
            self.reset()

    def check(self, client, flight: dict) -> None:
        if self.limit is not None and self.empty is not None and time.monotonic() - self.empty > self.limit:
            raise ClusterError(f"no worker joined the scheduler at {self.address} within the time limit of "
                               f"{self.limit:g} s: the run stopped, nothing was reported")
        if self.limit is None or time.monotonic() - self.since <= self.limit:
            return
        keys = {key for running in client.processing().values() for key in running}
        running = sorted(i for future, i in flight.items() if future.key in keys) or sorted(flight.values())
        raise ClusterError(f"{', '.join(self.name(i) for i in running)} ran past the time limit of {self.limit:g} s "
                           "per task: the run stopped, nothing was reported")


def _finished(finishing, seconds: float) -> list:
    """The futures finished (or cancelled) within `seconds`; none when none did."""
    deadline = time.monotonic() + seconds
    while not finishing.has_ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    return finishing.next_batch(block=False)


def _result(future, task: str):
    """A finished task's result; its error as one line naming the task (the harness's own errors as they are)."""
    try:
        return future.result()
    except (HarnessError, OSError, *CANCELLED):
        raise
    except Exception as err:
        raise ClusterError(f"{task} failed on the cluster: {type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''}") from None
