"""`parity` on a Dask cluster: chunk indices out, judged chunks back, merged in index order.

The client exports (or reuses) the model and ships the export by content hash (`shipped`); each chunk
task names only its index. A worker unpacks and verifies the export once, loads the backends once
(`Node`), makes chunk j's cases from (seed, j) as every run does, never from which worker it is, runs
and judges them and returns the mergeable `Judged` (`Part`). The client merges the parts in index order
as they arrive, holding the few that come early (`InOrder`), with a bounded number of chunks in flight,
so memory stays flat in `n` on every node; then localises and reports as `harness.parity.steps` does.
The report is the one-process run's, field for field (timings and hosts aside).

A worker that dies mid-chunk has its chunks re-run elsewhere by the scheduler (the same cases, so the
same result); a part for another export, for cases other than chunk j's, or for a chunk already merged
is refused and ends the run (`ClusterError`), so nothing is judged twice or lost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pickle
import shutil
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.backends import Backend
from harness.cluster import tasks
from harness.cluster.connect import ClusterError, connect, distributed
from harness.cluster.shipped import Shipped
from harness.errors import UsageError
from harness.export import ensure_exported
from harness.parity import cases as chunking
from harness.parity import steps
from harness.parity.judge import Judged
from harness.parity.tolerances import Overrides, Policy
from harness.parity.verdict import ParityReport
from harness.progress import LINE_SECONDS, Paced, bar
from harness.records import Cases
from harness.results import Reading, Results
from harness.spec import ModelSpec, built, model_fingerprint
from harness.user_model import beside

Progress = Callable[[str], None]

#: Seconds a chunk may take (loading the backends included) before the run is taken as hung and ends.
CHUNK_LIMIT_SECONDS = 3600.0
#: Seconds between progress lines at most, besides one every twentieth of the chunks (`progress.Paced`).
PROGRESS_SECONDS = LINE_SECONDS


def _quiet(_msg: str) -> None:
    pass


@dataclass(frozen=True)
class Job:
    """What every chunk task of one run shares; it travels to each worker once, with the export."""

    run: str  # this run's id: task keys and the worker's loaded backends are its own
    spec: ModelSpec
    backends: tuple[Backend, ...]
    export: Shipped
    n: int
    seed: int
    policy: Policy | None
    overrides: Overrides | None
    threads: Threads
    versions: Versions | None = None  # the client's runtimes (`parity` always sends them)
    modules: tuple[types.ModuleType, ...] = ()  # a model file's own modules, by value (`packed`)


@dataclass(frozen=True)
class Threads:
    """The client's thread counts: a float kernel's sums can depend on how many threads share them (torch's
    conv1d does), so every worker runs with the client's, and its numbers are the client's bit for bit."""

    torch: int
    omp: str | None  # OMP_NUM_THREADS, which onnxruntime's backend reads (unset: its own default)

    @classmethod
    def here(cls) -> Threads:
        import torch

        return cls(torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"))

    def apply(self) -> None:
        import torch

        torch.set_num_threads(self.torch)
        if self.omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)  # Dask sets 1 in its workers
        else:
            os.environ["OMP_NUM_THREADS"] = self.omp


#: The packages a chunk's numbers rest on: every worker judges with the client's versions of them.
RUNTIMES = ("numpy", "torch", "onnxruntime", "coremltools", "executorch")


@dataclass(frozen=True)
class Versions:
    """The client's versions of `RUNTIMES` (None: not installed). Another onnxruntime or torch gives other numbers,
    so a node with other versions would judge its chunks apart from the one-process run it is merged into."""

    packages: tuple[tuple[str, str | None], ...]

    @classmethod
    def here(cls) -> Versions:
        from importlib import metadata

        def version(name: str) -> str | None:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                return None

        return cls(tuple((name, version(name)) for name in RUNTIMES))

    def check(self) -> None:
        """A ClusterError naming this node and the first package whose version is not the client's."""
        here = dict(Versions.here().packages)
        for name, theirs in self.packages:
            if theirs is not None and here.get(name) != theirs:
                raise ClusterError(f"worker {_here()}: {name} {here.get(name) or '(not installed)'} here, {theirs} on "
                                   "the client: install the same versions on every node (other versions give other "
                                   "numbers than the one-process run's)")


@dataclass(frozen=True)
class Part:
    """One chunk judged on a worker: what the client merges, with what it checks before merging."""

    index: int
    export: str  # the key of the export the worker ran
    cases_sha256: str  # of the chunk's feeds as the worker made them
    judged: Judged
    runs: tuple[Results, ...]  # each backend's status after this chunk; seconds spent on it
    worker: str


def feeds_sha256(cases: Cases) -> str:
    """A chunk's feeds, hashed in input-name order: the same cases give the same hash on every node."""
    digest = hashlib.sha256()
    for name in sorted(cases.feeds):
        feed = np.ascontiguousarray(cases.feeds[name], dtype="<f4")
        digest.update(f"{name} {feed.shape}\n".encode())
        digest.update(feed.tobytes())
    return digest.hexdigest()


# -- on a worker ----------------------------------------------------------------------------------

class Node:
    """One worker's share of a run: the export unpacked and verified, the model built, the backends
    loaded, once; then chunk after chunk."""

    def __init__(self, job: Job):
        self.job = job
        if job.versions is not None:
            job.versions.check()
        job.threads.apply()  # before any backend loads
        for module in job.modules:  # importable by name here, for imports the model's code makes as it runs
            sys.modules.setdefault(module.__name__, module)
        self.folder, self.manifest = job.export.unpack(_scratch())
        try:
            self.spec = built(job.spec)
            fingerprint = model_fingerprint(self.spec, self.spec.build())
            if fingerprint != self.manifest.model_fingerprint:
                raise ClusterError(f"worker {_here()}: model {self.spec.name!r} here (fingerprint {fingerprint[:12]}) "
                                   f"is not the export's ({self.manifest.model_fingerprint[:12]}): install the same "
                                   "code and weights on every node")
            self.reading = Reading.of(self.spec)
            self.runs = [steps.Streamed(b, self.spec, self.manifest, self.folder, _quiet, job.n, reference=i == 0)
                         for i, b in enumerate(job.backends)]
        except BaseException:
            self.close()  # a node that cannot run leaves no copy behind
            raise
        self.labels = [b.label for b in job.backends]
        self.spent = [r.seconds for r in self.runs]  # loading: counted with the first chunk

    def close(self) -> None:
        """The unpacked export removed (its backends go with this node)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def judge(self, index: int) -> Part:
        job = self.job
        job.threads.apply()  # torch's count is the calling thread's: set in the thread that runs the chunk
        chunk = chunking.make_chunk(self.spec, index, chunking.size(job.n, index), job.seed)
        self.runs[0].repeat = index == 0  # the reference runs chunk 0 twice, wherever it runs, as in one process
        judged = steps.judge_chunk(self.reading, chunk, self.labels, self.runs, policy=job.policy,
                                   overrides=job.overrides)
        results = []
        for k, r in enumerate(self.runs):
            results.append(dataclasses.replace(r.results(), seconds=r.seconds - self.spent[k]))
            self.spent[k] = r.seconds
        return Part(index, job.export.key, feeds_sha256(chunk), judged, tuple(results), _here())


_NODES: dict[str, Node] = {}
_LOCK = threading.Lock()  # one chunk at a time per worker process: backends are not thread-safe


def judge_chunk(job: Job | bytes, index: int) -> Part:
    """The task each chunk is: judged by this worker's `Node` for the run (made on its first chunk). `job`
    travels pickled (`packed`): unpickled once per worker, never pickled again between workers."""
    with _LOCK:
        run, _, pickled = job.partition(b"\n") if isinstance(job, bytes) else (job.run.encode(), b"", b"")
        node = _NODES.get(run.decode())
        if node is None:
            for earlier in _NODES.values():  # an earlier run's: this worker is done with it
                earlier.close()
            _NODES.clear()
            node = _NODES[run.decode()] = Node(_read(pickled) if isinstance(job, bytes) else job)
        return node.judge(index)


def release(run: str) -> bool:
    """This worker's node for `run` closed and dropped (its export removed, its backends let go), once the client
    has every chunk: a long-lived worker held the last run's until the next came. True when it had one."""
    with _LOCK:
        node = _NODES.pop(run, None)
        if node is not None:
            node.close()
    return node is not None


def held() -> list[str]:
    """The runs this worker holds a node for."""
    with _LOCK:
        return list(_NODES)


def _read(pickled: bytes) -> Job:
    """The job a client packed; a node whose code cannot read it (another harness, a model's module missing) is
    named in one line."""
    try:
        return pickle.loads(pickled)
    except Exception as err:
        raise ClusterError(f"worker {_here()} cannot read the run's job ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''}): install the same harness, and the "
                           "modules the model imports, on every node") from None


def packed(job: Job) -> bytes:
    """The job as the workers get it: its run id, then the job pickled here, where the model's code is (a model
    file's or a script's classes travel by value, and so do the modules a model file imported from its own
    folder). A model that cannot travel is named in one line."""
    import cloudpickle

    torch_namespaces_by_name()
    modules = tuple(sys.modules[name] for name in beside() if name in sys.modules)
    for module in modules:  # a model file's own helpers: not installed on other machines
        cloudpickle.register_pickle_by_value(module)
    job = dataclasses.replace(job, modules=modules)
    try:
        return job.run.encode() + b"\n" + cloudpickle.dumps(job)
    except Exception as err:
        raise UsageError(f"model {job.spec.name!r} cannot be sent to the workers: {type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''} (describe it in an importable module, "
                         "a model file or a script)") from None


def _worker():
    """The Dask worker running this task, or None outside a worker."""
    try:
        return distributed().get_worker()
    except ValueError:
        return None


def _scratch() -> str | None:
    """Where a worker unpacks an export: its own Dask folder, which Dask removes when the worker closes and clears
    when a worker died (a local cluster's workers skip Python's finalisation, so nothing of ours would); outside a
    worker, the temporary folder."""
    worker = _worker()
    return None if worker is None else worker.local_directory


def _here() -> str:
    worker = _worker()
    return "this process" if worker is None else worker.address


# -- on the client --------------------------------------------------------------------------------

class InOrder:
    """Parts merged in index order as they arrive; a part that comes early waits for those before it.
    A part for another export, for other cases than its chunk's, or for a chunk already taken is refused."""

    def __init__(self, export: str, count: int, cases_sha256: Callable[[int], str]):
        self.export, self.count, self.cases_sha256 = export, count, cases_sha256
        self.next, self.waiting = 0, {}

    def add(self, part: Part) -> Iterator[Part]:
        """`part` checked, then every part now next in order (possibly none)."""
        where = f"chunk {part.index} from worker {part.worker}"
        if part.export != self.export:
            raise ClusterError(f"refused {where}: it judged export {part.export[:12]}, this run's is "
                               f"{self.export[:12]} (another model or version)")
        if not 0 <= part.index < self.count:
            raise ClusterError(f"refused {where}: this run has chunks 0 to {self.count - 1}")
        if part.index < self.next or part.index in self.waiting:
            raise ClusterError(f"refused {where}: chunk {part.index} was judged already (nothing is judged twice)")
        self.waiting[part.index] = part
        while self.next in self.waiting:
            ready = self.waiting.pop(self.next)
            if ready.cases_sha256 != self.cases_sha256(ready.index):
                raise ClusterError(f"refused chunk {ready.index} from worker {ready.worker}: its cases are not "
                                   f"chunk {ready.index}'s of seed this run's (a node with other code?)")
            self.next += 1
            yield ready

    @property
    def done(self) -> bool:
        return self.next == self.count


class _Runs:
    """Each backend's run over every chunk: the first status other than "ran" in index order stands (as in
    one process, a backend that stops stays stopped); seconds add up over chunks and workers."""

    def __init__(self):
        self.results: list[Results] | None = None
        self.workers: set[str] = set()

    def add(self, part: Part) -> None:
        self.workers.add(part.worker)
        if self.results is None:
            self.results = list(part.runs)
            return
        for k, (now, new) in enumerate(zip(self.results, part.runs, strict=True)):
            stopped = now if now.status != "ran" else new
            self.results[k] = dataclasses.replace(stopped, seconds=now.seconds + new.seconds)


def torch_namespaces_by_name() -> None:
    """Let `torch.classes` and `torch.ops` travel by name, as modules do. They are module-like objects pickle
    cannot copy, and cloudpickle takes them along with a model class that travels by value (one from a model
    file or a script) whenever its code reads an attribute named `classes` or `ops`."""
    import copyreg

    import torch

    for namespace in (torch.classes, torch.ops):
        copyreg.pickle(type(namespace), _by_name)


def _by_name(namespace):
    import importlib

    return importlib.import_module, (namespace.__name__,)


def parity(spec: ModelSpec, backends: Sequence[Backend], *, n: int, seed: int, cluster: str,
           folder: str | Path | None = None, policy: Policy | None = None, overview: bool = False,
           progress: Progress | None = None, overrides: Overrides | None = None,
           explain: bool = False) -> ParityReport:
    """`harness.parity.steps.parity` with the chunks run and judged on the cluster at `cluster` (`local[:W]`
    or a scheduler's address): the same report."""
    say = progress or _quiet
    here = built(spec)
    steps.check_backends(here, backends)
    first = chunking.make_chunk(here, 0, chunking.size(n, 0), seed)  # a broken make_inputs, named before exporting
    with connect(cluster, say) as client:  # an address with no scheduler, named before exporting
        folder = Path(folder or steps.export_folder(here))
        manifest = ensure_exported(here, folder, progress=say)
        shipped = Shipped.pack(folder)
        job = Job(uuid.uuid4().hex, spec, tuple(backends), shipped, n, seed, policy, overrides, Threads.here(),
                  Versions.here())
        try:
            judged, runs, feeds = _judged(client, cluster, job, here, first, say, progress)
        finally:
            _released(client, job.run)
    judged_cases = sum(judged.case_kinds.values())
    if judged_cases != n:  # never: each chunk is merged once, and each holds its size
        raise ClusterError(f"the cluster judged {judged_cases:,} cases, not {n:,}")
    labels = [b.label for b in backends]
    loaded: dict[str, steps.Streamed] = {}

    def again(label: str, feeds: dict[str, np.ndarray]):  # the precision classes' few cases, run here
        if label not in loaded:
            backend = backends[labels.index(label)]
            loaded[label] = steps.Streamed(backend, here, manifest, folder, _quiet, n)
        return loaded[label].again(feeds)

    return steps.finish(here, n, seed, labels, runs.results, judged, feeds.finish(), folder, manifest, again,
                        overview=overview, explain=explain, say=say)


def _released(client, run: str) -> None:
    """Every worker's node for `run` let go; a worker that cannot be asked (lost, busy) drops it at its next run."""
    if client.status == "running":  # a lost scheduler is not waited for again
        with contextlib.suppress(Exception):
            client.run(release, run, on_error="ignore")


def _judged(client, cluster: str, job: Job, here: ModelSpec, first: Cases, say: Progress,
            progress: Progress | None) -> tuple[Judged, _Runs, chunking.FeedsDigest]:
    """Every chunk judged on the cluster and merged in index order, each checked against the client's own
    cases as it is merged: (judged, the runs, the inputs' digest)."""
    n, seed, count = job.n, job.seed, chunking.count(job.n)
    made, digest = {0: first}, chunking.FeedsDigest(here, n, seed)

    def cases_sha256(j: int) -> str:  # the client's own chunk j, digested for the inputs' sha256 as it is checked
        chunk = made.pop(j, None)
        if chunk is None:
            chunk = chunking.make_chunk(here, j, chunking.size(n, j), seed)
        digest.update(chunk)
        return feeds_sha256(chunk)

    merged, judged, runs = InOrder(job.export.key, count, cases_sha256), None, _Runs()
    say(f"parity {here.name} on {cluster}: {n:,} cases in {count:,} chunk{'s' if count > 1 else ''}, "
        f"export {job.export.key[:12]} ({_size(job.export.size)}) shipped to each worker once")
    shared = tasks.submit(client, cluster, bytes, packed(job), key=f"harness-job-{job.run}")  # re-made if lost

    def chunk(j: int):
        return client.submit(judge_chunk, shared, j, key=f"harness-chunk-{job.run}-{j}", pure=False)

    with bar(progress, n, f"parity {here.name}", "case") as shown:
        start, pace = time.perf_counter(), Paced(count, PROGRESS_SECONDS)
        for _, part, workers in tasks.as_finished(client, chunk, count, cluster, say, what="chunk",
                                                          limit=CHUNK_LIMIT_SECONDS):
            for ready in merged.add(part):
                judged = ready.judged if judged is None else judged.merge(ready.judged, ready.index * chunking.CHUNK)
                runs.add(ready)
                shown.update(chunking.size(n, ready.index))
                done = min(n, (ready.index + 1) * chunking.CHUNK)
                rate = done / max(time.perf_counter() - start, 1e-9)
                shown.set_postfix_str(f"{workers} workers, {rate:,.0f} cases/s")
                if pace.due(count if merged.done else merged.next):
                    say(f"judged {merged.next:,} of {count:,} chunks ({done:,} cases), {rate:,.0f} cases/s, "
                        f"{workers} worker{'s' if workers != 1 else ''} alive")
    return judged, runs, digest


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"
