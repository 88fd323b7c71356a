"""Hypothesis's example database shared through Redis (`HYPOTHESIS_DATABASE=redis://...`, tests/conftest.py):
a failure one process found and shrank is the first example another process tries.

A real `redis-server` (Debian's package) is started on a free loopback port and stopped after; without one
the test is skipped with the reason, and fails instead where HARNESS_REQUIRE_REDIS=1 (CI)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A property that fails from 123,456 on: shrunk, the failure is exactly that number.
FUZZ = """
import json, sys
sys.path.insert(0, sys.argv[1])
import tests.conftest  # the suite's profiles, with HYPOTHESIS_DATABASE's database
from hypothesis import given, settings, strategies as st

seen = []

@given(st.integers(0, 10**9))
def test_below(x):
    seen.append(x)
    assert x < 123_456

try:
    test_below()
    failed = False
except AssertionError:
    failed = True
database = next(c.__name__ for c in type(settings.default.database).__mro__ if c.__module__.startswith("hypothesis"))
print(json.dumps({"first": seen[0], "failed": failed, "database": database}))  # Hypothesis's own class
"""


@contextlib.contextmanager
def redis_server(tmp_path: Path, *extra: str):
    """A real redis-server on a free loopback port (with `extra` arguments), answering pings: its URL."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("HARNESS_REQUIRE_REDIS") == "1":
            pytest.fail("HARNESS_REQUIRE_REDIS=1 but no redis-server on PATH")
        pytest.skip("no redis-server on PATH (Debian: apt-get install redis-server)")
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client, deadline = redis.Redis.from_url(url), time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path) as url:
        yield url


def run(tmp_path: Path, name: str, url: str, profile: str = "thorough",
        script: str = FUZZ) -> subprocess.CompletedProcess:
    """The property run once in a new process of its own folder (no local example database in common)."""
    folder = tmp_path / name
    folder.mkdir()
    env = {**os.environ, "HYPOTHESIS_DATABASE": url, "HYPOTHESIS_PROFILE": profile}
    return subprocess.run([sys.executable, "-c", script, str(ROOT)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)


def fuzz(tmp_path: Path, name: str, url: str) -> dict:
    proc = run(tmp_path, name, url)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_failure_shrunk_in_one_process_is_replayed_first_in_another(redis_url, tmp_path):
    import redis

    found = fuzz(tmp_path, "first-runner", redis_url)
    assert found["failed"] and found["database"] == "RedisExampleDatabase"
    assert found["first"] != 123_456  # it had to be found: nothing was stored yet
    assert redis.Redis.from_url(redis_url).keys("hypothesis-example:*")  # shrunk and saved in Redis
    replayed = fuzz(tmp_path, "second-runner", redis_url)  # another folder: no local database in common
    assert replayed["failed"] and replayed["first"] == 123_456


def test_the_derandomized_ci_profile_refuses_a_database_it_would_not_read(tmp_path):
    proc = run(tmp_path, "ci", "redis://127.0.0.1:1/0", profile="ci")  # refused before any connection
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        "pytest.UsageError: HYPOTHESIS_DATABASE is not read under HYPOTHESIS_PROFILE=ci: that "
        "profile draws the same examples every run, which Hypothesis does without a database; share failures "
        "between fuzzing runners (HYPOTHESIS_PROFILE=thorough) or dev runs")


def test_a_redis_that_cannot_be_used_is_refused_in_one_line_before_any_test(tmp_path):
    """Nothing listening, a malformed URL, a read-only replica: refused at start. A read-only one hid the failure the
    property found (Redis's ReadOnlyError when Hypothesis saved it, in place of the falsifying example); nothing
    listening failed every property test with a Redis traceback, as if each had found a bug."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with redis_server(tmp_path, "--replicaof", "127.0.0.1", str(closed)) as read_only:
        refused = {url: run(tmp_path, f"run{i}", url) for i, url in enumerate(
            [read_only, f"redis://127.0.0.1:{closed}/0", "redis://:notaport/0"])}
    said = {url: proc.stderr.splitlines()[-1] for url, proc in refused.items()}
    assert all(proc.returncode == 1 for proc in refused.values()), said
    assert said[read_only].startswith(f"pytest.UsageError: HYPOTHESIS_DATABASE={read_only!r}: the Redis server there "
                                      "refuses writes (ReadOnlyError: ")
    assert said[f"redis://127.0.0.1:{closed}/0"].startswith(
        f"pytest.UsageError: HYPOTHESIS_DATABASE='redis://127.0.0.1:{closed}/0': no Redis server answered "
        "(ConnectionError: ")
    assert said["redis://:notaport/0"].startswith(
        "pytest.UsageError: HYPOTHESIS_DATABASE='redis://:notaport/0': not a Redis URL (ValueError: ")


#: The property of FUZZ, with the Redis server lost once it has started.
LOST = FUZZ.replace("    seen.append(x)\n", """    if not seen:
        import redis, os
        redis.Redis.from_url(os.environ["HYPOTHESIS_DATABASE"]).shutdown(nosave=True)
    seen.append(x)
""")


def test_a_redis_lost_mid_run_never_hides_the_failure_the_property_found(redis_url, tmp_path):
    """Hypothesis saves a failure as it shrinks it: a Redis gone by then raised its ConnectionError in place of
    the property's own failure. The failure is reported, and the lost database said."""
    proc = run(tmp_path, "lost", redis_url, script=LOST)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["failed"]
    assert f"HYPOTHESIS_DATABASE={redis_url!r}: the Redis server was lost" in proc.stderr
