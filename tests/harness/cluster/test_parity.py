"""Parity on a real Dask cluster (two worker processes): the one-process report, field for field, a worker
killed mid-run included; parts for another export, other cases or a chunk twice refused."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import threading
import time

import pytest

from harness import api
from harness.backends import parse_backends
from harness.cluster import parity as on_cluster
from harness.cluster.connect import ClusterError
from harness.cluster.shipped import Shipped, ShippedError
from harness.errors import UsageError
from harness.parity import cases as chunking
from harness.parity import steps
from harness.parity.tolerances import get_policy
from tests.user_model import tiny_vision

#: The reference, an exact runtime and the fp16 interpreter; judged by fp32, the fp16 pairs fail, so the
#: report holds passing and failing pairs, worst cases in several chunks, localisations and precision classes.
BACKENDS = "torch,onnxruntime,coreml-emulated@fp16[fp16]"
N, SEED = 2500, 0  # three chunks, the last one short


@pytest.fixture(scope="module")
def model(shared_export):
    spec = tiny_vision.describe_model()
    _, folder = shared_export(spec)
    return spec, folder


@pytest.fixture(scope="module")
def one_process(model):
    spec, folder = model
    return steps.parity(spec, parse_backends(BACKENDS), n=N, seed=SEED, folder=folder, policy=get_policy("fp32"))


def comparable(report) -> dict:
    """The report as JSON, less what differs between runs of one computation: seconds and hosts."""
    out = report.to_dict()
    for run in out["backends"]:
        del run["seconds"], run["where"]
    return out


def on(address: str, model, progress=None):
    spec, folder = model
    return api.parity(spec, BACKENDS, n=N, seed=SEED, folder=folder, policy="fp32", cluster=address,
                      progress=progress)


def test_a_cluster_run_reports_what_one_process_does(dask_cluster, model, one_process):
    address, _ = dask_cluster
    said = []
    report = on(address, model, said.append)
    assert comparable(report) == comparable(one_process)
    # what the equality rests on: passing and failing pairs, worst cases in more than one chunk (merged at the
    # right offsets), failing pairs localised and classed from the merged figures
    assert [c.verdict for c in report.comparisons] == ["pass", "pass", "fail", "fail"]
    assert len({c.worst[0] // chunking.CHUNK for c in report.comparisons}) > 1
    assert report.localizations.pairs and report.precision
    assert sum(report.case_kinds.values()) == N and report.inputs.count == N
    assert any(m.startswith("judged 3 of 3 chunks (2,500 cases)") and m.endswith("2 workers alive") for m in said), said
    # the workers let go of the run (its export and backends) once it is judged, rather than hold it till the next
    held = dask_cluster[1].run(on_cluster.held)
    assert len(held) == 2 and all(runs == [] for runs in held.values()), held


#: The killed run's cases: more chunks than the client keeps in flight, so some are sent after the first result.
KILLED_N, KILLED_BACKENDS = 6000, "torch,onnxruntime"


def _kill_a_busy_worker(client, pids: dict, killed: list, seconds: float = 60.0) -> None:
    """Kill the first worker seen holding a chunk task (SIGKILL: no goodbye to the scheduler)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if worker in pids and any("harness-chunk" in str(k) for k in keys):
                os.kill(pids[worker], signal.SIGKILL)
                killed.append(worker)
                return
        time.sleep(0.005)


def test_a_worker_killed_mid_run_has_its_chunks_run_elsewhere_and_the_report_is_unchanged(dask_cluster, model):
    address, client = dask_cluster
    spec, folder = model
    pids = client.run(os.getpid)
    killed, said, killer = [], [], []

    def progress(message: str) -> None:
        said.append(message)
        if message.startswith("judged") and not killer:  # after the first result, while the run goes on
            killer.append(threading.Thread(target=_kill_a_busy_worker, args=(client, pids, killed)))
            killer[0].start()

    report = api.parity(spec, KILLED_BACKENDS, n=KILLED_N, seed=SEED, folder=folder, cluster=address,
                        progress=progress)
    killer[0].join()
    assert killed and any(m.startswith(f"lost worker {killed[0]}") for m in said), said
    alone = steps.parity(spec, parse_backends(KILLED_BACKENDS), n=KILLED_N, seed=SEED, folder=folder)
    assert comparable(report) == comparable(alone)
    assert report.comparisons[0].max_abs > 0  # two runtimes: numbers that differ, merged the same
    assert sum(report.case_kinds.values()) == KILLED_N  # nothing judged twice, nothing lost


@pytest.fixture(scope="module")
def parts(model):
    """Chunks 0 and 1 judged by a worker's own code, here in this process."""
    spec, folder = model
    job = on_cluster.Job("test", spec, tuple(parse_backends("torch,onnxruntime")), Shipped.pack(folder), N, SEED,
                         None, None, on_cluster.Threads.here())
    return job, [on_cluster.judge_chunk(job, j) for j in (0, 1)]


def _order(job):
    spec = job.spec
    return on_cluster.InOrder(job.export.key, chunking.count(N), lambda j: on_cluster.feeds_sha256(
        chunking.make_chunk(spec, j, chunking.size(N, j), SEED)))


def test_parts_merge_in_index_order_whatever_order_they_arrive_in(parts):
    job, (first, second) = parts
    merged = _order(job)
    assert list(merged.add(second)) == []  # held until chunk 0 comes
    assert [p.index for p in merged.add(first)] == [0, 1]


def test_a_part_for_another_export_other_cases_or_a_chunk_twice_is_refused(parts):
    job, (first, second) = parts
    with pytest.raises(ClusterError, match=f"refused chunk 0 .*judged export 000000000000, this run's is "
                                           f"{job.export.key[:12]}"):
        list(_order(job).add(dataclasses.replace(first, export="0" * 64)))
    merged = _order(job)
    assert [p.index for p in merged.add(first)] == [0]
    with pytest.raises(ClusterError, match="refused chunk 0 .*judged already"):
        list(merged.add(first))
    with pytest.raises(ClusterError, match="refused chunk 7 .*this run has chunks 0 to 2"):
        list(merged.add(dataclasses.replace(second, index=7)))
    with pytest.raises(ClusterError, match="refused chunk 1 .*its cases are not chunk 1's"):
        list(merged.add(dataclasses.replace(first, index=1)))  # chunk 0's cases, claimed as chunk 1's


def test_an_export_that_arrives_changed_is_refused(model, tmp_path):
    _, folder = model
    shipped = Shipped.pack(folder)
    onnx = next(name for name in shipped.files if name.endswith(".onnx"))
    data = bytearray(shipped.files[onnx])
    data[len(data) // 2] ^= 1
    with pytest.raises(ShippedError, match=f"export {shipped.key[:12]} arrived changed: {onnx} changed"):
        Shipped(shipped.key, {**shipped.files, onnx: bytes(data)}).unpack(tmp_path)
    with pytest.raises(ShippedError, match="arrived with a manifest of sha256"):
        Shipped("f" * 64, shipped.files).unpack(tmp_path)
    with pytest.raises(ShippedError, match="outside its folder"):
        Shipped(shipped.key, {**shipped.files, "../escape": b"x"}).unpack(tmp_path)
    assert not (tmp_path.parent / "escape").exists()
    unpacked, manifest = shipped.unpack(tmp_path)
    assert manifest.verify(unpacked) == [] and manifest.model_fingerprint


def test_a_worker_whose_model_is_not_the_exports_refuses_to_run_it(model):
    _, folder = model
    retrained = api.describe("tiny-vision", lambda: api.seeded(tiny_vision.TinyVision, seed=1),
                             inputs={"image": (None, 3, 8, 8), "meta": (None, 4)},
                             outputs={"logits": (None, 5), "score": (None, 1)}, make_inputs=tiny_vision.inputs)
    job = on_cluster.Job("other", retrained, tuple(parse_backends("torch")), Shipped.pack(folder), N, SEED, None, None,
                         on_cluster.Threads.here())
    with pytest.raises(ClusterError, match="model 'tiny-vision' here .* is not the export's"):
        on_cluster.judge_chunk(job, 0)


def test_workers_run_with_the_clients_thread_counts(dask_cluster, model):
    """A float kernel's sums can depend on its thread count (trendsplit's conv1d does): workers take the client's."""
    address, client = dask_cluster
    spec, folder = model
    default = client.run(lambda: __import__("torch").get_num_threads())
    threads = on_cluster.Threads(max(default.values()) + 1, "3")
    job = on_cluster.Job("threads", spec, tuple(parse_backends("torch")), Shipped.pack(folder), N, SEED, None, None,
                         threads)
    ran = client.submit(on_cluster.judge_chunk, job, 0, pure=False).result()
    seen = client.submit(lambda: (__import__("torch").get_num_threads(), os.environ.get("OMP_NUM_THREADS")),
                         workers=[ran.worker], pure=False).result()  # in the worker's one task thread, after it
    assert seen == (threads.torch, "3")


@pytest.mark.usefixtures("converters_imported")
def test_the_plugins_cluster_option_runs_a_users_parity_test_there(pytester, dask_cluster, harness_export,
                                                                    monkeypatch):
    address, client = dask_cluster
    monkeypatch.setattr(on_cluster, "_released", lambda _client, _run: None)  # the workers keep the run to look at
    reference = f"{tiny_vision.__file__}:describe_model"
    folder = harness_export(api.load(reference))  # the inner session finds it in its cache, as a second run does
    shutil.copytree(folder.parent, pytester.path / ".pytest_cache" / "d" / "trendsplit-harness" / folder.parent.name)
    pytester.makepyfile(f"""
        from harness import api

        def test_on_the_cluster(harness_parity):
            report = harness_parity(api.load({reference!r}), "torch,onnxruntime", n=1500)
            assert sum(report.case_kinds.values()) == 1500 and report.comparisons[0].max_abs > 0
    """)
    pytester.runpytest("--harness-cluster", address).assert_outcomes(passed=1)
    judged_there = client.run(lambda: [(node.job.spec.name, node.job.n) for node in on_cluster._NODES.values()])
    assert ("tiny-vision", 1500) in sum(judged_there.values(), [])


def test_a_model_that_cannot_travel_to_the_workers_is_named_in_one_line(model):
    spec, folder = model
    lock = threading.Lock()  # nothing pickles a lock
    stuck = dataclasses.replace(spec, make_cases=lambda count, seed: lock and spec.make_cases(count, seed))
    job = on_cluster.Job("stuck", stuck, tuple(parse_backends("torch")), Shipped.pack(folder), N, SEED, None, None,
                         on_cluster.Threads.here())
    with pytest.raises(UsageError, match="model 'tiny-vision' cannot be sent to the workers: TypeError: cannot pickle "
                                         "'_thread.lock' object"):
        on_cluster.packed(job)


SIBLING = '''
import torch
from torch import nn


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 8)
        self.b = nn.Linear(8, 3)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))
'''
MODEL_FILE = '''
from harness import api


def factory():  # the module beside it imported when the model is first built, not when the file is read
    return api.describe("a30-sibling", lambda: api.seeded(__import__("a30_sibling_layers").Body),
                        inputs={"x": (None, 6)}, outputs={"y": (None, 3)})
'''


def test_a_model_files_sibling_module_travels_with_it_to_workers_that_cannot_import_it(dask_cluster, tmp_path,
                                                                                       monkeypatch, harness_export):
    """A model file that imports a module beside it (run from its folder): the workers (here started before that
    folder was on any path, as on another machine) get the module with the model; it said 'chunk 0 failed on the
    cluster: ModuleNotFoundError: No module named ...'."""
    address, client = dask_cluster
    (tmp_path / "a30_sibling_layers.py").write_text(SIBLING)
    (tmp_path / "m.py").write_text(MODEL_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python -m harness` run in that folder has it
    monkeypatch.delitem(__import__("sys").modules, "a30_sibling_layers", raising=False)
    spec = api.load(f"{tmp_path / 'm.py'}:factory")
    assert not any(client.run(lambda: __import__("importlib.util").util.find_spec("a30_sibling_layers") is not None)
                   .values())
    folder = harness_export(spec)
    report = api.parity(spec, "torch,onnxruntime", n=20, seed=SEED, folder=folder, cluster=address)
    alone = steps.parity(spec, parse_backends("torch,onnxruntime"), n=20, seed=SEED, folder=folder)
    assert comparable(report) == comparable(alone) and report.comparisons[0].max_abs > 0


def test_a_worker_unpacks_each_export_in_its_own_scratch_folder_which_dask_removes(dask_cluster, model,
                                                                                     monkeypatch):
    """Each run's export was unpacked into the temporary folder and left there when the worker exited (a local
    cluster's workers skip Python's finalisation): /tmp gathered an export per worker per run. In the worker's
    own Dask folder it goes when the worker does (Dask also clears those of workers that died)."""
    address, client = dask_cluster
    spec, folder = model
    monkeypatch.setattr(on_cluster, "_released", lambda _client, _run: None)  # the workers keep the run to look at
    api.parity(spec, "torch,onnxruntime", n=10, seed=SEED, folder=folder, cluster=address)

    def where(dask_worker):
        return [(str(node.folder), dask_worker.local_directory) for node in on_cluster._NODES.values()]

    placed = client.run(where)
    assert any(placed.values())
    for unpacked, scratch in sum(placed.values(), []):
        assert os.path.commonpath([unpacked, scratch]) == scratch, (unpacked, scratch)


def test_an_export_unpacked_for_a_model_that_is_not_its_is_removed(model, tmp_path, monkeypatch):
    """A node that refuses its export (or fails to load it) leaves no unpacked copy behind."""
    _, folder = model
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    retrained = api.describe("tiny-vision", lambda: api.seeded(tiny_vision.TinyVision, seed=2),
                             inputs={"image": (None, 3, 8, 8), "meta": (None, 4)},
                             outputs={"logits": (None, 5), "score": (None, 1)}, make_inputs=tiny_vision.inputs)
    job = on_cluster.Job("refused", retrained, tuple(parse_backends("torch")), Shipped.pack(folder), N, SEED, None,
                         None, on_cluster.Threads.here())
    with pytest.raises(ClusterError, match="is not the export's"):
        on_cluster.judge_chunk(job, 0)
    assert list(tmp_path.iterdir()) == []


def test_a_worker_with_other_versions_of_the_runtimes_refuses_to_judge(model):
    """A node whose onnxruntime (or torch, numpy, coremltools) is not the client's judged its chunks with its own
    numbers, merged into a report said to be the one-process run's; it refuses, naming itself and the package."""
    spec, folder = model
    client = on_cluster.Versions.here()
    assert dict(client.packages)["onnxruntime"] is not None
    other = on_cluster.Versions(tuple((name, "0.0.1" if name == "onnxruntime" else version)
                                      for name, version in client.packages))
    job = on_cluster.Job("versions", spec, tuple(parse_backends("torch,onnxruntime")), Shipped.pack(folder), N, SEED,
                         None, None, on_cluster.Threads.here(), other)
    with pytest.raises(ClusterError, match=f"worker this process: onnxruntime {dict(client.packages)['onnxruntime']} "
                                           "here, 0.0.1 on the client"):
        on_cluster.judge_chunk(job, 0)


def test_a_job_the_worker_cannot_read_is_named_as_the_nodes_code_differing():
    """A node with other harness or model code (a class it does not have) said only 'chunk 0 failed on the cluster:
    AttributeError: Can't get attribute ...'; it names itself and what to install."""
    job = b"unreadable-run\n" + b"cno_such_module_a30\nThing\n."  # a pickle of a class from a module it lacks
    with pytest.raises(ClusterError, match="worker this process cannot read the run's job \\(ModuleNotFoundError: No "
                                           "module named 'no_such_module_a30'\\): install the same harness"):
        on_cluster.judge_chunk(job, 0)


@pytest.mark.slow  # forty chunks on the cluster, each made again on the client
def test_a_long_run_says_its_progress_at_least_every_few_seconds_not_only_every_twentieth(dask_cluster, model,
                                                                                           monkeypatch):
    """Progress was said every twentieth of the chunks: a run of 10**12 cases said nothing for days (and 10**8
    nothing for minutes). It is also said once `PROGRESS_SECONDS` have passed since the last line (here 0: at
    every chunk)."""
    address, _ = dask_cluster
    spec, folder = model
    monkeypatch.setattr(on_cluster, "PROGRESS_SECONDS", 0.0)
    said = []
    api.parity(spec, "torch,onnxruntime", n=40_000, seed=SEED, folder=folder, cluster=address, progress=said.append)
    judged = [int(m.split()[1]) for m in said if m.startswith("judged ")]
    assert judged == list(range(1, 41)), said
