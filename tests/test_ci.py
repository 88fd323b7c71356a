"""The CI entry points: `tox -e coreml` fails off macOS unless a skip is expected, before building anything;
`.ci/run` installs what the tests need (the test extra, a browser, a Redis server)."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COREML = ROOT / ".ci" / "coreml.py"


def coreml_job(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "HARNESS_COREML_SKIP_OK"}
    return subprocess.run([sys.executable, str(COREML), "out"], capture_output=True, text=True, timeout=60,
                          env={**clean, **env})


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS the job runs real CoreML")
def test_the_coreml_job_off_macos_fails_at_once_saying_it_tested_nothing():
    start = time.perf_counter()
    proc = coreml_job()
    assert time.perf_counter() - start < 30  # no install, no build: the refusal comes first
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("tox -e coreml: FAILED: real CoreML predictions need macOS")
    assert "nothing was tested; set HARNESS_COREML_SKIP_OK=1 where a skip is expected" in proc.stderr


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS the job runs real CoreML")
def test_an_expected_skip_is_said_and_exits_0():
    proc = coreml_job(HARNESS_COREML_SKIP_OK="1")
    assert proc.returncode == 0
    assert proc.stdout.startswith("tox -e coreml: skipped: real CoreML predictions need macOS")


def test_tox_builds_nothing_before_the_job_decides_and_passes_the_skip_variable():
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    env = tox["testenv:coreml"]
    assert env["skip_install"] == "true" and "extras" not in env and "deps" not in env
    assert "HARNESS_COREML_SKIP_OK" in env["passenv"].split()
    assert env["commands"].strip().startswith("python .ci/coreml.py")


def test_ci_installs_the_test_extra_and_a_browser_it_then_requires():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci
    assert "apt-get install -y -qq chromium" in ci and "export HARNESS_REQUIRE_CHROMIUM=1" in ci
    assert ci.index("HARNESS_REQUIRE_CHROMIUM=1") < ci.index("-m pytest")


def test_ci_installs_a_redis_server_it_then_requires():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -qq redis-server" in ci and "export HARNESS_REQUIRE_REDIS=1" in ci
    assert ci.index("HARNESS_REQUIRE_REDIS=1") < ci.index("-m pytest")


def _group(group: int) -> tuple[set[str], int]:
    """The tests of one of two groups (`--splits 2`), and how many the whole collection holds."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/docs", "--collect-only", "-q", "-n", "0",
                           "-p", "no:cacheprovider", "--splits", "2", "--group", str(group)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counted = re.search(r"(\d+)/(\d+) tests collected", proc.stdout)
    assert counted, proc.stdout
    return {line for line in proc.stdout.splitlines() if "::" in line}, int(counted[2])


def test_two_split_groups_partition_the_suite_as_docs_cluster_md_shards_ci():
    (first, whole), (second, again) = _group(1), _group(2)
    assert whole == again > 4 and first and second
    assert not first & second and len(first | second) == whole
