"""The zoo's tables a model per task on a real Dask cluster: the one-process table, rows in the zoo's order."""

from __future__ import annotations

import shutil

import pytest

from harness import zoo
from harness.cluster.tables import zoo_precision_table, zoo_table
from harness.errors import UsageError

#: Two of the zoo's fast models, in the zoo's order: rows finishing in another order must not reorder the table.
NAMES = ["zoo-attention", "zoo-resizer"]


@pytest.mark.slow  # about 10 CPU-seconds: two zoo models through five backends, on the cluster and here
def test_the_zoo_table_on_a_cluster_is_the_one_process_table(dask_cluster, harness_export, tmp_path):
    address, _ = dask_cluster
    for name in NAMES:  # the session's exports (tests/harness/test_zoo.py makes them), where the table looks
        shutil.copytree(harness_export(zoo.spec(zoo.ZOO[name])), tmp_path / name)
    said = []
    table = zoo_table(address, NAMES, n=8, folder=str(tmp_path), progress=said.append)
    assert table == zoo.table(NAMES, n=8, folder=str(tmp_path))
    lines = table.splitlines()
    assert lines[:2] == zoo.HEADER.splitlines() and [line.split(" | ")[0] for line in lines[2:]] == [
        f"| {name}" for name in NAMES]
    assert all(line.endswith("| PASSED |") for line in lines[2:]), table
    assert said[-1].startswith("2 of 2 models done") and said[-1].endswith("2 workers alive"), said


@pytest.mark.parametrize("table", [zoo_table, zoo_precision_table])
def test_a_name_the_zoo_does_not_have_is_a_usage_error_before_any_cluster_starts(table):
    """It started a local cluster and ended 'model zoo-nosuch failed on the cluster: KeyError: ...'."""
    said = []
    with pytest.raises(UsageError, match="no zoo model named 'zoo-nosuch' \\(the zoo: zoo-mobilenet-v2, "):
        table("local:2", ["zoo-attention", "zoo-nosuch"], progress=said.append)
    assert said == []


@pytest.mark.slow  # an ExecuTorch export (fp32 and int8) and the compression variants of a small model, on workers
def test_the_export_variant_sweeps_on_a_cluster_are_the_one_process_tables(dask_cluster, tmp_path):
    """ExecuTorch's programs and the compression variants, a model per task: the tables one process makes (the
    stateful model's row says why it has no ExecuTorch programs)."""
    from harness.cluster.tables import zoo_compression_table, zoo_executorch_table

    address, _ = dask_cluster
    names = ["zoo-norm-mlp", "zoo-kv-cache"]
    executorch = zoo_executorch_table(address, names, n=8, folder=str(tmp_path / "et"))
    compression = zoo_compression_table(address, ["zoo-norm-mlp"], n=8, folder=str(tmp_path / "c"))
    assert executorch == zoo.executorch_table(names, n=8, folder=str(tmp_path / "et"))  # the workers' exports
    assert compression == zoo.compression_table(["zoo-norm-mlp"], n=8, folder=str(tmp_path / "c"))
    assert [line.split(" | ")[0] for line in executorch.splitlines()[2:]] == [f"| {name}" for name in names]
    assert "stateful" in executorch.splitlines()[3] and len(compression.splitlines()) == 3


def test_a_row_that_runs_past_its_limit_ends_the_table_naming_it(dask_cluster):
    """A hung row (a model whose export never returns) hung the table for ever."""
    import time

    from harness.cluster import tables
    from harness.cluster.connect import ClusterError

    address, _ = dask_cluster
    start = time.monotonic()
    with pytest.raises(ClusterError, match="model 6 ran past the time limit of 1 s"):
        tables.rows(address, time.sleep, [6], lambda _m: None, limit=1.0)  # the row: time.sleep(6)
    assert time.monotonic() - start < 5
