"""Shared fixtures and Hypothesis profiles (marker handling comes from the harness's pytest plugin)."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings


def shared_database() -> dict:
    """The example database `HYPOTHESIS_DATABASE` names, as settings: `redis://host:port[/db]` is Hypothesis's
    own RedisExampleDatabase, so a failure one fuzzing runner found and shrank is the first example every
    other runner (and every developer pointed at it) tries. Unset: Hypothesis's default, `.hypothesis/`."""
    url = os.environ.get("HYPOTHESIS_DATABASE", "")
    if not url:
        return {}
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise pytest.UsageError(f"HYPOTHESIS_DATABASE={url!r}: name a Redis server, redis://host:port[/db]")
    if os.environ.get("HYPOTHESIS_PROFILE") == "ci":
        raise pytest.UsageError("HYPOTHESIS_DATABASE is not read under HYPOTHESIS_PROFILE=ci: that profile draws the "
                                "same examples every run, which Hypothesis does without a database; share failures "
                                "between fuzzing runners (HYPOTHESIS_PROFILE=thorough) or dev runs")
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30)
    except ValueError as err:
        raise pytest.UsageError(f"HYPOTHESIS_DATABASE={url!r}: not a Redis URL ({type(err).__name__}: {err})") from None
    probe = "hypothesis-harness-probe"
    try:  # a server that is not there, or takes no writes, is said now: not as every property test's failure
        client.set(probe, b"1", ex=60)
        client.delete(probe)
    except redis.ConnectionError as err:
        raise pytest.UsageError(f"HYPOTHESIS_DATABASE={url!r}: no Redis server answered ({type(err).__name__}: "
                                f"{str(err).splitlines()[0] if str(err) else ''})") from None
    except redis.RedisError as err:
        raise pytest.UsageError(f"HYPOTHESIS_DATABASE={url!r}: the Redis server there refuses writes "
                                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    return {"database": SharedDatabase(client, url)}


def _shared_database_class():
    """`SharedDatabase`: Hypothesis's `RedisExampleDatabase`, with a Redis lost mid-run said once and left
    behind. Hypothesis saves a failure as it shrinks it, so a lost server's error took the place of the failure
    the property found; the failure is reported, and the database said lost."""
    import warnings

    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:  # without the cluster extra there is no Redis database to wrap
        return None

    class SharedDatabase(RedisExampleDatabase):
        def __init__(self, client, url: str):
            super().__init__(client)
            self.url, self.lost = url, False

        def _gone(self, err: Exception) -> None:
            if not self.lost:
                self.lost = True
                warnings.warn(f"HYPOTHESIS_DATABASE={self.url!r}: the Redis server was lost ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}): failures from here on are not "
                              "shared", stacklevel=2)

        def fetch(self, key: bytes):
            if self.lost:
                return
            try:
                found = list(super().fetch(key))
            except redis.RedisError as err:
                self._gone(err)
                return
            yield from found

        def save(self, key: bytes, value: bytes) -> None:
            self._quietly(super().save, key, value)

        def delete(self, key: bytes, value: bytes) -> None:
            self._quietly(super().delete, key, value)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            self._quietly(super().move, src, dest, value)

        def _quietly(self, change, *args) -> None:
            if self.lost:
                return
            try:
                change(*args)
            except redis.RedisError as err:
                self._gone(err)

    return SharedDatabase


SharedDatabase = _shared_database_class()


SHARED = shared_database()
settings.register_profile("dev", max_examples=50, deadline=None, **SHARED)
# CI explores the same examples every run (a red CI is a real regression, not a new draw);
# `thorough` explores widely and is where new counterexamples are hunted, shared through
# HYPOTHESIS_DATABASE between the runners that hunt and the developers that replay them.
settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow], **SHARED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Marker handling (coreml skips off macOS, swift skips or errors) comes from the harness's own
# pytest plugin (harness/pytest_plugin.py, entry point pytest11), as in users' suites.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
RECORDER = ROOT / "ios_bridge" / "Sources" / "TrendSplitRecorder"
MODEL_FIXTURE = ROOT / "fixtures" / "model_trendsplit.json"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each test's garbage collections walk only the objects made since it began.

    A worker holds torch, coremltools, Hypothesis and every earlier test's fixtures: millions of
    objects, walked whole by each full collection (`ct.convert` ends with one; json and Hypothesis
    trigger more). That was 18 CPU-seconds of a run. Collecting what is garbage now and freezing
    the rest keeps every later collection to the objects a test makes, as `export_model` does for
    one export; the cost is that garbage cycles among frozen objects are never freed.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def trendsplit():
    from harness.models import get_model

    return get_model("trendsplit")


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory) -> Path:
    """A folder every xdist worker of this run shares (the parent of the workers' own base folders), for work
    made once per run under a lock, whichever worker asks first; the base folder when there are no workers."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_export(harness_export):
    """`shared_export(model) -> (manifest, folder)`: one real export per model version for the whole run,
    shared by every xdist worker (the plugin's cache). Tests that change an export make their own."""
    from harness.export.manifest import Manifest

    def export(model):
        folder = harness_export(model)
        return Manifest.read(folder), folder

    return export


@pytest.fixture(scope="session")
def trendsplit_export(trendsplit, shared_export):
    """The default model's export (ONNX, CoreML fp32 and fp16), shared by the whole run."""
    return shared_export(trendsplit)


@pytest.fixture(scope="session")
def series_model():
    """A user's small 1-D model (tests/user_model/series.py): the model harness tests run, not the kit's."""
    from tests.user_model import series

    return series.describe_model()


@pytest.fixture(scope="session")
def series_export(series_model, shared_export):
    """`series_model`'s export (ONNX, CoreML fp32 and fp16), shared by the whole run."""
    return shared_export(series_model)


@pytest.fixture(scope="session")
def fp16_overflow_model():
    """A user's model whose fp16 program overflows on some inputs (tests/user_model/fp16_overflow.py)."""
    from tests.user_model import fp16_overflow

    return fp16_overflow.describe_model()


@pytest.fixture(scope="session")
def converters_imported(tmp_path_factory):
    """One real export in this process, before any in-process pytester run.

    pytester drops the modules an inner session imported; torch's ONNX exporter registers operator
    libraries when imported and refuses a second registration, so the second inner session to
    export would fail if the first had imported it. Imported out here, it stays.
    """
    from torch import nn

    from harness import api
    from harness.export import export_model

    model = api.describe("warm", lambda: api.seeded(lambda: nn.Linear(3, 2)),
                         inputs={"x": (None, 3)}, outputs={"y": (None, 2)})
    export_model(model, tmp_path_factory.mktemp("converters") / "warm")


@pytest.fixture(scope="session")
def swift_encoder():
    """The app's Swift encoder, built in release mode and running for the whole session."""
    from trendsplit.swift_encoder import SwiftEncoder, build

    with SwiftEncoder(build()) as encoder:
        yield encoder


REPLAY = """
import Foundation
// The recorder's pure parts, as an app uses them: read a fixture, measure the model's weights, write
// a results file. The outputs are the fixture's own (torch) outputs replayed, since this machine has
// no CoreML to run; the weights are measured on the package named (args[3]) as on a compiled model.
do {
    let args = CommandLine.arguments
    let fixture = try Fixture.read(URL(fileURLWithPath: args[1]))
    let outputs = fixture.cases.map { $0.outputs.mapValues(\\.values) }
    let loaded = try ModelWeights.sha256(model: URL(fileURLWithPath: args[3]))
    let results = try ResultsFile.recording(fixture: fixture, precision: args[4], option: "CPU_ONLY",
                                            loadedWeightsSHA256: loaded, outputs: outputs, seconds: 0.001,
                                            provenance: .current())
    try results.write(to: URL(fileURLWithPath: args[2]))
} catch {
    FileHandle.standardError.write("\\(error)\\n".data(using: .utf8)!)
    exit(1)
}
"""


@pytest.fixture(scope="session")
def swift_recorder(tmp_path_factory):
    """`record(model_package, precision, out) -> out`: a results file written by the Swift recorder's own
    code (compiled here with swiftc), replaying the trendsplit fixture's outputs as `coreml@<precision>`."""
    swiftc = shutil.which("swiftc")
    if swiftc is None:
        pytest.skip("no swiftc on PATH")
    work = tmp_path_factory.mktemp("recorder")
    (work / "main.swift").write_text(REPLAY)
    binary = work / "replay"
    sources = sorted(str(p) for p in RECORDER.glob("*.swift"))
    proc = subprocess.run([swiftc, "-module-name", "Replay", *sources, str(work / "main.swift"), "-o", str(binary)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def record(package: Path, precision: str, out: Path) -> Path:
        proc = subprocess.run([str(binary), str(MODEL_FIXTURE), str(out), str(package), precision], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return out

    return record
