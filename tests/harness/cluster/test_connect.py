"""Reaching the cluster: bad addresses refused as usage, and no wait unbounded: a scheduler that is not there,
or is lost mid-run, ends the run with exit 1 naming its address."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import api, cli, options
from harness.cluster import connect
from harness.cluster.connect import ClusterError
from tests.user_model import tiny_vision

MODEL = f"{Path(tiny_vision.__file__)}:describe_model"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("argv", "said"), [
    (["--cluster", "local:0"], "argument --cluster: the worker processes of the cluster local:W must be between 1 "
                               "and 256, got 0"),
    (["--cluster", "http://sched:8786"], "argument --cluster: the cluster 'http://sched:8786' is neither local[:W] "
                                         "nor a scheduler address like tcp://host:8786"),
])
def test_a_bad_cluster_flag_is_a_usage_error_in_one_line(argv, said, capsys):
    with pytest.raises(SystemExit) as done:  # checked while parsing
        cli.main(["parity", *argv])
    assert done.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m harness parity: error: {said}"


@pytest.mark.parametrize(("argv", "env", "said"), [
    ([], "sched", "HARNESS_CLUSTER 'sched' is neither local[:W] nor a scheduler address like tcp://host:8786"),
    (["--save", "{tmp}/run"], "local:2", "--save keeps every output in this process: not with a cluster (--cluster "
                                         "or HARNESS_CLUSTER)"),
])
def test_a_bad_cluster_from_the_environment_is_a_usage_error_in_one_line(argv, env, said, monkeypatch, capsys,
                                                                        tmp_path):
    monkeypatch.setenv("HARNESS_CLUSTER", env)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(["parity", "--model", "no-such-model", *argv]) == 2  # refused before the model is looked up
    assert capsys.readouterr().err.splitlines() == [f"python -m harness: error: {said}"]


def test_cluster_none_runs_in_this_process_whatever_the_variable_says(monkeypatch, capsys, tmp_path):
    """With HARNESS_CLUSTER set there was no way to run one process (and so to --save): `--cluster none` is one."""
    monkeypatch.setenv("HARNESS_CLUSTER", f"tcp://127.0.0.1:{closed_port()}")  # nothing there: a cluster would fail
    monkeypatch.chdir(tmp_path)
    code = cli.main(["parity", "-q", "--model", MODEL, "--backends", "torch,onnxruntime", "--n", "10",
                     "--cluster", "none", "--save", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "run").is_dir()
    assert options.cluster("none") is None and options.cluster(" none ") is None
    assert options.cluster_flag("none") == "none" and options.cluster_flag("local:2") == "local:2"


def test_no_scheduler_at_the_address_exits_1_naming_it_before_any_export(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(connect, "CONNECT_SECONDS", 2.0)
    monkeypatch.chdir(tmp_path)
    address = f"tcp://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    code = cli.main(["parity", "-q", "--model", MODEL, "--backends", "torch,onnxruntime", "--n", "10",
                     "--cluster", address])
    assert code == 1 and time.monotonic() - start < 20
    assert capsys.readouterr().err.splitlines() == [
        f"python -m harness: no Dask scheduler answered at {address} within 2 s"]
    assert not (tmp_path / "artifacts").exists()


@pytest.fixture
def not_a_scheduler():
    """An HTTP server on a loopback port: something listens there, and it is not a Dask scheduler."""
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # its log is not the harness's output
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_a_scheduler_exits_1_naming_it_in_bounded_time(not_a_scheduler, monkeypatch, capsys,
                                                                            tmp_path):
    """Dask's connect waits for the other end's handshake without a bound: an HTTP server on the port held the run
    forever (it reads the request's first line, which never comes)."""
    import threading

    monkeypatch.setattr(connect, "CONNECT_SECONDS", 2.0)
    monkeypatch.chdir(tmp_path)
    done = []
    run = threading.Thread(target=lambda: done.append(cli.main(
        ["parity", "-q", "--model", MODEL, "--backends", "torch,onnxruntime", "--n", "10", "--cluster",
         not_a_scheduler])), daemon=True)
    run.start()
    run.join(30)
    assert done == [1], "the run did not end within 30 s"
    assert capsys.readouterr().err.splitlines() == [
        f"python -m harness: no Dask scheduler answered at {not_a_scheduler} within 2 s"]
    assert not (tmp_path / "artifacts").exists()


def test_a_tls_address_without_dasks_tls_configuration_is_a_usage_error_in_one_line(monkeypatch, capsys, tmp_path):
    """tls:// is a scheduler address the harness takes; without Dask's TLS certificates configured the run ended
    as an internal error (Dask's TypeError about an ssl_context)."""
    monkeypatch.chdir(tmp_path)
    address = f"tls://127.0.0.1:{closed_port()}"
    assert cli.main(["parity", "-q", "--model", MODEL, "--backends", "torch,onnxruntime", "--n", "10",
                     "--cluster", address]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"python -m harness: error: {address} needs Dask's TLS configuration: its certificates "
        "(distributed.comm.tls.ca-file, .client.cert and .client.key) in Dask's configuration"]
    assert not (tmp_path / "artifacts").exists()


#: A scheduler that says it runs another distributed, as one installed apart from the client's would.
OLD_SCHEDULER = """
import asyncio, sys
import distributed.versions as versions
real = versions.get_versions


def older(packages=None):
    out = real(packages)
    out["packages"]["distributed"] = "2023.1.0"
    return out


versions.get_versions = older
from distributed import Scheduler


async def main():
    async with Scheduler(host="127.0.0.1", port=0, dashboard_address=None) as s:
        print(s.address, flush=True)
        await s.finished()

asyncio.run(main())
"""


def test_a_scheduler_of_another_dask_version_is_said_in_one_line(monkeypatch):
    """Dask's own warning was a table of several lines and a line of its source on the harness's output."""
    import warnings

    import distributed

    proc = subprocess.Popen([sys.executable, "-c", OLD_SCHEDULER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        address, said = proc.stdout.readline().strip(), []
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with connect.connect(address, said.append):
                pass
        assert [w for w in seen if "version" in str(w.message).lower()] == []
        assert f"Dask's versions differ across the cluster: distributed (client {distributed.__version__}, " \
               "scheduler 2023.1.0)" in said, said
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def scheduler(tmp_path):
    """A Dask scheduler of its own, with no workers, started as the README's command starts one."""
    file = tmp_path / "scheduler.json"
    proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert file.exists(), "the scheduler did not start"
        yield json.loads(file.read_text())["address"], proc
    finally:
        proc.kill()
        proc.wait()


def test_a_scheduler_lost_mid_run_ends_it_naming_the_address_in_bounded_time(scheduler, shared_export):
    address, proc = scheduler
    spec = tiny_vision.describe_model()
    _, folder = shared_export(spec)
    killed = []

    def progress(message: str) -> None:
        if message.startswith("waiting for workers") and not killed:  # connected, chunks sent, none taken
            proc.kill()
            killed.append(time.monotonic())

    with pytest.raises(ClusterError, match=f"lost the Dask scheduler at {address}"):
        api.parity(spec, "torch,onnxruntime", n=10, folder=folder, cluster=address, progress=progress)
    assert killed and time.monotonic() - killed[0] < connect.LOST_SECONDS + 10


def test_the_workers_alive_are_never_read_from_the_clients_cache_a_periodic_refresh_empties(dask_cluster):
    """Dask's client refreshes its cached scheduler identity every few seconds without the workers; a look at the
    workers that read that cache after the refresh once said both workers lost (and 'waiting for workers') in a
    run where none was. Here the refresh runs every millisecond: every look must still see both workers."""
    import dask
    from distributed import Client

    address, _ = dask_cluster
    with dask.config.set({"distributed.client.scheduler-info-interval": "1ms"}), \
            Client(address, set_as_default=False) as client:
        seen = [len(connect.alive(client)) for _ in range(300)]
    assert seen == [2] * len(seen)


def test_a_scheduler_no_worker_ever_joins_ends_the_run_at_the_time_limit(scheduler, shared_export, monkeypatch):
    """A scheduler with no workers: the run said 'waiting for workers' and waited for ever (the chunks' time limit
    was reset while none was there). Workers may join late (a cluster that scales up), so it waits the limit."""
    from harness.cluster import parity

    address, _ = scheduler
    spec = tiny_vision.describe_model()
    _, folder = shared_export(spec)
    monkeypatch.setattr(parity, "CHUNK_LIMIT_SECONDS", 3.0)
    start, watchdog = time.monotonic(), threading.Timer(60, scheduler[1].kill)  # it waited for ever: end it then
    watchdog.start()
    try:
        with pytest.raises(ClusterError, match=f"no worker joined the scheduler at {address} within the time limit "
                                               "of 3 s: the run stopped, nothing was reported"):
            api.parity(spec, "torch,onnxruntime", n=10, folder=folder, cluster=address)
    finally:
        watchdog.cancel()
    assert time.monotonic() - start < 30


def test_workers_lost_with_none_left_are_not_said_to_run_their_chunks_elsewhere(monkeypatch):
    """Every worker lost: there is no elsewhere; the chunks run once a worker joins (or the time limit ends it)."""
    from harness.cluster import tasks

    seen = iter([["tcp://a:1", "tcp://b:2"], ["tcp://b:2"], []])
    monkeypatch.setattr(tasks, "alive", lambda _client: next(seen))
    said = []
    watch = tasks.Watch(None, "tcp://s:8786", said.append, "chunk")
    assert [watch.look() for _ in range(3)] == [2, 1, 0]
    assert said == ["lost worker tcp://a:1: the scheduler runs its chunks elsewhere",
                    "lost worker tcp://b:2: the scheduler runs its chunks once a worker joins",
                    "waiting for workers at tcp://s:8786"]
