"""Tables whose rows are independent, a row per task on the cluster: the zoo table, its precision table and its
export-variant sweeps (ExecuTorch's programs, the compression variants).

Each worker exports (or reuses, in its own `folder`) and judges one model; the client puts the rows in the
table's own order whatever order they finish in, so the table is the one `harness.zoo.table` makes in one
process. A worker's export folder is on the worker (shared or not): only the rows travel back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from harness import zoo
from harness.cluster import tasks
from harness.cluster.connect import connect

#: Seconds one row (a model's export and runs) may take on a worker before the table ends naming it.
ROW_LIMIT_SECONDS = 3600.0


def rows(cluster: str, row: Callable[..., str], names: Sequence[str], say: Callable[[str], None], *args,
         what: str = "model", limit: float | None = None) -> list[str]:
    """`row(name, *args)` for every name, each a task on `cluster`, in the order of `names`; a row that runs past
    `limit` seconds (default `ROW_LIMIT_SECONDS`) ends the table naming it (a hung row hung it)."""
    run, out = uuid.uuid4().hex, [""] * len(names)
    with connect(cluster, say) as client:
        def start(i: int):
            return tasks.submit(client, cluster, row, names[i], *args, key=f"harness-{what}-{run}-{i}")

        finished = tasks.as_finished(client, start, len(names), cluster, say, what=what, window=len(names),
                                     name=lambda i: f"{what} {names[i]}",
                                     limit=ROW_LIMIT_SECONDS if limit is None else limit)
        for done, (i, text, workers) in enumerate(finished, 1):
            out[i] = text
            say(f"{done} of {len(names)} {what}s done ({names[i]}), {workers} worker{'s' if workers != 1 else ''} "
                "alive")
    return out


def zoo_table(cluster: str, names: list[str] | None = None, n: int = 16, folder: str = "artifacts/zoo",
              progress: Callable[[str], None] = lambda _m: None) -> str:
    """`harness.zoo.table`, a model per task on `cluster`."""
    return "\n".join([zoo.HEADER, *rows(cluster, zoo.row, zoo.names_of(names), progress, n, folder)])


def zoo_precision_table(cluster: str, names: list[str] | None = None, n: int = 32, folder: str = "artifacts/zoo",
                        progress: Callable[[str], None] = lambda _m: None) -> str:
    """`harness.zoo.precision_table`, a model per task on `cluster`."""
    return "\n".join([zoo.PRECISION_HEADER,
                      *rows(cluster, zoo.precision_rows, zoo.names_of(names), progress, n, folder)])


def zoo_executorch_table(cluster: str, names: list[str] | None = None, n: int = 32, folder: str = "artifacts/zoo",
                         progress: Callable[[str], None] = lambda _m: None) -> str:
    """`harness.zoo.executorch_table`, a model per task on `cluster`."""
    return "\n".join([zoo.EXECUTORCH_HEADER,
                      *rows(cluster, zoo.executorch_row, zoo.names_of(names), progress, n, folder)])


def zoo_compression_table(cluster: str, names: list[str] | None = None, n: int = 64,
                          folder: str = "artifacts/zoo-compressed",
                          progress: Callable[[str], None] = lambda _m: None) -> str:
    """`harness.zoo.compression_table`, a model per task on `cluster`."""
    chosen = zoo.names_of(names, zoo.COMPRESSION_FAMILIES)
    return "\n".join([zoo.compression_header(), *rows(cluster, zoo.compression_row, chosen, progress, n, folder)])
