"""A conformance suite as tasks on a Dask cluster, a test class per task, merged into one run's records.

    python -m tests.conformance.table --suite mil-ios18 --cluster local:2 --out ios18.md

The client reaches the cluster first (a bad address ends the run before anything is collected),
collects the suite once (pytest --collect-only in a fresh process, with the run's own arguments, so
-k and the plugin's selection apply) and groups the cases by test class. Each class is a task
(`harness.cluster.tasks`): `python -m tests.conformance.run --shard FILE::CLASS` in a
fresh process on the worker (Apple's modules read the environment at import and stay out of the
worker), its records sent back. A class runs its cases in the same order as in one process, and the
plugin's `--conformance-every` counts within a class, so the merged records, put in the client's
collection order, are the one-process run's outcome for outcome (timings aside).

Workers need this checkout (the `tests` package importable: start them in it with PYTHONPATH=.) and
the same coremltools. A shard gets a time limit: past it its process is killed and the run ends,
exit 1, naming the class and the limit (a worker that hangs outside the shard's process is caught by
the same limit on the client, `harness.cluster.tasks`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from harness.cluster import tasks
from harness.cluster.connect import ClusterError, connect
from tests.conformance import suites
from tests.conformance.conftest import ROOT

#: Seconds one test class may run (the slowest, iOS15's TestLSTM, takes about 10 minutes under load).
SHARD_LIMIT_SECONDS = 3600.0
#: Seconds the client waits past a shard's limit before it takes the worker itself as hung.
CLIENT_GRACE_SECONDS = 60.0
#: Thread counts the run reads: Dask sets them to 1 in its workers; a shard runs with the client's.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _environment(threads: dict[str, str | None]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k not in THREAD_VARIABLES}
    env.update({k: v for k, v in threads.items() if v is not None})
    return env


def collect(suite: str, extra: list[str]) -> list[str]:
    """The suite's case ids in collection order, as one run would select them (a fresh process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "collected.json"
        proc = subprocess.run([sys.executable, "-m", "tests.conformance.run", "--suite", suite, "--json", str(out),
                               "--", "--collect-only", *extra], cwd=ROOT, env=_environment(_threads()),
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
            raise ClusterError(f"collecting suite {suite} failed (exit {proc.returncode}): {last}")
        return [record["nodeid"] for record in json.loads(out.read_text())]


def shards(nodeids: list[str]) -> list[str]:
    """The test classes of `nodeids`, in collection order."""
    return list(dict.fromkeys(suites.shard_of(nodeid) for nodeid in nodeids))


def run_shard(shard: str, extra: list[str], limit: float, threads: dict[str, str | None]) -> list[dict]:
    """The task: one class run by pytest and the plugin in a fresh process here; its records."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "shard.json"
        command = [sys.executable, "-m", "tests.conformance.run", "--shard", shard, "--json", str(out), "--", *extra]
        try:
            proc = subprocess.run(command, cwd=ROOT, env=_environment(threads), capture_output=True, text=True,
                                  timeout=limit)
        except subprocess.TimeoutExpired:
            raise ClusterError(f"shard {shard} ran past its time limit of {limit:g} s: the run stopped") from None
        if not out.exists():
            raise ClusterError(f"shard {shard} did not complete (pytest exit {proc.returncode}): "
                               f"{_cause(proc.stderr, proc.stdout)}")
        return json.loads(out.read_text())


def _threads() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in THREAD_VARIABLES}


def run(suite: str, cluster: str, extra: list[str] = (), say: Callable[[str], None] = lambda _m: None,
        limit: float = SHARD_LIMIT_SECONDS, only: list[str] | None = None) -> list[dict]:
    """The records of `suite` (with pytest arguments `extra`) run a class per task on `cluster`, in the
    one-process run's order. `only`: these shards, not the suite's (uncollected, in the order given)."""
    extra, run_id, collected = list(extra), uuid.uuid4().hex, None
    with connect(cluster, say) as client:
        if only is None:
            say(f"collecting {suite}")
            collected = collect(suite, extra)
            only = shards(collected)
        say(f"{suite}: {len(collected) if collected is not None else 'the'} cases in {len(only)} shards "
            f"(a test class each), at most {limit:g} s each")

        def start(i: int):
            return tasks.submit(client, cluster, run_shard, only[i], extra, limit, _threads(),
                                key=f"conformance-shard-{run_id}-{i}")

        parts: list[list[dict]] = [[] for _ in only]
        finished = tasks.as_finished(client, start, len(only), cluster, say, what="shard", window=len(only),
                                     limit=limit + CLIENT_GRACE_SECONDS, name=lambda i: f"shard {only[i]}")
        for done, (i, records, workers) in enumerate(finished, 1):
            parts[i] = records
            say(f"{done} of {len(only)} shards done ({only[i]}: {len(records)} cases), {workers} "
                f"worker{'s' if workers != 1 else ''} alive")
    merged: dict[str, dict] = {}
    for shard, records in zip(only, parts, strict=True):
        for record in records:
            if record["nodeid"] in merged:
                raise ClusterError(f"shard {shard} returned case {record['nodeid']} that another shard ran")
            merged[record["nodeid"]] = record
    if collected is None:
        return list(merged.values())
    if set(merged) != set(collected):
        missing, extra_ids = set(collected) - set(merged), set(merged) - set(collected)
        raise ClusterError(f"the shards ran {len(extra_ids)} cases the client did not collect and missed "
                           f"{len(missing)} it did (another coremltools or checkout on a worker?), e.g. "
                           f"{sorted(missing or extra_ids)[0]}")
    return [merged[nodeid] for nodeid in collected]


#: A line that says why a process stopped: an exception's, or a fatal signal's (not a warning printed after it).
_CAUSE = re.compile(r"^\s*(\w+(\.\w+)*(Error|Exception|Interrupt|Exit)\b|Fatal Python error|Segmentation fault|Killed)")


def _cause(stderr: str, stdout: str) -> str:
    """The last line of a dead shard's output that says why it stopped, else its last line."""
    lines = [line for line in (stderr.strip() or stdout.strip() or "no output").splitlines() if line.strip()]
    causes = [line.strip() for line in lines if _CAUSE.match(line)]
    return causes[-1] if causes else lines[-1].strip()
