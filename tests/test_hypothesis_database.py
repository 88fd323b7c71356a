"""Hypothesis's example database shared through Redis (`HYPOTHESIS_DATABASE=redis://...`, tests/conftest.py):
a failure one process found and shrank is the first example another process tries.

A real `redis-server` (Debian's package) is started on a free loopback port and stopped after; without one
the test is skipped with the reason, and fails instead where HARNESS_REQUIRE_REDIS=1 (CI)."""

from __future__ import annotations

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
print(json.dumps({"first": seen[0], "failed": failed, "database": type(settings.default.database).__name__}))
"""


@pytest.fixture
def redis_url(tmp_path):
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
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def run(tmp_path: Path, name: str, url: str, profile: str = "thorough") -> subprocess.CompletedProcess:
    """The property run once in a new process of its own folder (no local example database in common)."""
    folder = tmp_path / name
    folder.mkdir()
    env = {**os.environ, "HYPOTHESIS_DATABASE": url, "HYPOTHESIS_PROFILE": profile}
    return subprocess.run([sys.executable, "-c", FUZZ, str(ROOT)], cwd=folder, env=env, capture_output=True,
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
