"""Cases per second of one parity run here in one process, and on local clusters of 1 and 2 workers.

    python -m harness.cluster.bench [--model trendsplit] [--backends torch,onnxruntime] [--n 20000] [--workers 1,2]

One run each (the cluster's start, the workers' imports and loads included: what a user waits for), and
the steady rate once the first chunk is judged (what a longer run tends to). Measured on the machine it
runs on, under whatever else runs there: a figure of this machine, not of the code. Each report is checked
to be the one-process run's before its time counts.
"""

from __future__ import annotations

import argparse
import json
import time

from harness.backends import parse_backends
from harness.models import get_model
from harness.parity import steps


def _timed(run, n: int) -> dict:
    """Seconds in all, and the rate from the first judged chunk on (None when the run is one chunk)."""
    marks: list[float] = []

    def progress(message: str) -> None:
        if message.startswith("judged "):
            marks.append(time.perf_counter())

    start = time.perf_counter()
    report = run(progress)
    end = time.perf_counter()
    after_first = n - min(n, 1000)
    steady = after_first / (marks[-1] - marks[0]) if len(marks) > 1 and marks[-1] > marks[0] else None
    return {"seconds": round(end - start, 2), "cases_per_second": round(n / (end - start), 1),
            "steady_cases_per_second": round(steady, 1) if steady else None, "report": report}


def bench(model: str = "trendsplit", backends: str = "torch,onnxruntime", n: int = 20_000,
          workers: tuple[int, ...] = (1, 2), seed: int = 0) -> list[dict]:
    """One row per run: here in one process, then `local:W` for each W; each report equal to the first."""
    from harness.cluster.parity import parity as on_cluster

    spec = steps.built(get_model(model))
    folder = steps.export_folder(spec)
    steps.parity(spec, parse_backends(backends), n=1, seed=seed, folder=folder)  # exported before any clock
    rows = [{"run": "one process", **_timed(lambda p: steps.parity(
        spec, parse_backends(backends), n=n, seed=seed, folder=folder, progress=p), n)}]
    for w in workers:
        rows.append({"run": f"local:{w}", **_timed(lambda p, w=w: on_cluster(
            spec, parse_backends(backends), n=n, seed=seed, folder=folder, cluster=f"local:{w}", progress=p), n)})
    plain = _comparable(rows[0]["report"])
    for row in rows:
        if _comparable(row.pop("report")) != plain:
            raise AssertionError(f"{row['run']}: the report differs from the one-process run's")
        row["ratio"] = round(row["cases_per_second"] / rows[0]["cases_per_second"], 2)
    return rows


def _comparable(report) -> dict:
    out = report.to_dict()
    for run in out["backends"]:
        del run["seconds"], run["where"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.cluster.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="trendsplit")
    parser.add_argument("--backends", default="torch,onnxruntime")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2", help="comma list of local cluster sizes")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    rows = bench(args.model, args.backends, args.n, tuple(int(w) for w in args.workers.split(",")))
    print(f"| run ({args.model}, {args.backends}, {args.n:,} cases) | seconds | cases/s | ratio | steady cases/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        steady = f"{r['steady_cases_per_second']:,}" if r["steady_cases_per_second"] else "—"
        print(f"| {r['run']} | {r['seconds']} | {r['cases_per_second']:,} | {r['ratio']} | {steady} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
