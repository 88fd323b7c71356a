"""One real Dask cluster for the cluster tests: a LocalCluster of two worker processes on loopback."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    """(scheduler address, a client of it): two worker processes of one thread, their imports done once (its HTTP
    server on a free port: 8787 may be another cluster's)."""
    from distributed import Client, LocalCluster

    from harness.cluster.connect import exit_quickly

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster, set_as_default=False) as client:
        exit_quickly(client)  # closed in a second, not four (torch's finalisation)
        client.run(__import__, "harness.cluster.parity")  # torch and the backends, before any test's clock
        yield cluster.scheduler_address, client
