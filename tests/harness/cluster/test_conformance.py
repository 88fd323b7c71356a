"""coremltools' op tests a test class per task on a real two-worker LocalCluster: the same outcomes as one
process; a shard that never finishes, or a task that hangs on its worker, ends the run naming it and the limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from harness.cluster import tasks
from harness.cluster.connect import ClusterError
from tests.conformance import sharded, table
from tests.conformance.conftest import ROOT
from tests.harness.cluster.test_connect import closed_port

#: Three small classes of iOS16's tests (25 cases: constexpr_cast, fill_like, pixel_unshuffle).
SUBSET = ["-k", "TestFillLike or TestPixelUnshuffle or TestConstexprCast"]
COMPARED = ("nodeid", "test_class", "precision", "reached", "ops", "outcome", "missing_ops", "max_abs")


@pytest.mark.slow  # three shards of fresh pytest processes on the cluster, and the same in one process
def test_a_sharded_run_has_the_one_process_runs_outcomes_case_for_case(dask_cluster, tmp_path):
    address, _ = dask_cluster
    out = tmp_path / "one.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    subprocess.run([sys.executable, "-m", "tests.conformance.run", "--suite", "mil-ios16", "--json", str(out),
                    "--", *SUBSET], cwd=ROOT, env=env, capture_output=True, check=True, timeout=600)
    one = json.loads(out.read_text())
    said: list[str] = []
    merged = sharded.run("mil-ios16", address, SUBSET, say=said.append)
    assert len(sharded.shards([r["nodeid"] for r in merged])) == 3
    assert any("3 of 3 shards done" in line for line in said)
    assert [{k: r[k] for k in COMPARED} for r in merged] == [{k: r[k] for k in COMPARED} for r in one]
    assert {r["outcome"] for r in one} >= {"passed"}


@pytest.mark.slow  # a fresh pytest process on the cluster, killed at its limit
def test_a_shard_that_never_finishes_ends_the_run_naming_it_and_the_limit(dask_cluster, tmp_path):
    address, _ = dask_cluster
    hung = tmp_path / "test_hung.py"
    hung.write_text("import time\n\n\nclass TestHung:\n    def test_sleeps(self):\n        time.sleep(600)\n")
    start = time.monotonic()
    with pytest.raises(ClusterError, match=r"shard \S*test_hung.py::TestHung ran past its time limit of 15 s"):
        sharded.run("mil-ios16", address, only=[f"{hung}::TestHung"], limit=15)
    assert time.monotonic() - start < 15 + sharded.CLIENT_GRACE_SECONDS  # the shard's own limit, not the client's


def test_a_task_that_hangs_on_its_worker_ends_the_run_naming_it_and_the_limit(dask_cluster):
    address, client = dask_cluster
    start = time.monotonic()
    with pytest.raises(ClusterError, match=r"^sleeper 0 ran past the time limit of 1 s per task"):
        list(tasks.as_finished(client, lambda i: client.submit(time.sleep, 4, pure=False), 1, address,
                               lambda _m: None, what="task", limit=1, name=lambda i: f"sleeper {i}"))
    assert time.monotonic() - start < 4  # ended before the task did


def test_the_table_with_no_scheduler_exits_1_naming_it_before_collecting(monkeypatch, capsys, tmp_path):
    from harness.cluster import connect

    monkeypatch.setattr(connect, "CONNECT_SECONDS", 2.0)
    address = f"tcp://127.0.0.1:{closed_port()}"
    code = table.main(["--suite", "mil-ios16", "--cluster", address, "--out", str(tmp_path / "t.md")])
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [f"error: no Dask scheduler answered at {address} within 2 s"]
    assert not (tmp_path / "t.md").exists()


def test_a_bad_cluster_for_the_table_is_a_usage_error_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HARNESS_CLUSTER", "sched")
    assert table.main(["--suite", "mil-ios16", "--out", str(tmp_path / "t.md")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: HARNESS_CLUSTER 'sched' is neither local[:W] nor a scheduler address like tcp://host:8786"]


def test_a_dead_shard_is_named_by_why_it_stopped_not_by_a_warning_printed_after():
    """A crashed shard's line showed its last stderr line: a torch warning printed at exit, not the cause."""
    stderr = ("Traceback (most recent call last):\n  File \"x.py\", line 1\nMemoryError: cannot allocate\n"
              "/venv/torch/__init__.py:12: UserWarning: TypedStorage is deprecated\n  warnings.warn(\n")
    assert sharded._cause(stderr, "") == "MemoryError: cannot allocate"
    assert sharded._cause("Fatal Python error: Segmentation fault\nwarnings.warn(", "") == (
        "Fatal Python error: Segmentation fault")
    assert sharded._cause("", "collected 0 items\nno tests ran") == "no tests ran"  # no cause said: the last line
    assert sharded._cause("", "") == "no output"
