"""A folder lock held by another process: waited for visibly, for a bounded time, then a named failure."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import atomic, cli
from harness.errors import LockTimeout, UsageError

#: A process that takes `target`'s lock (the harness's own `folder_lock`) and holds it until told.
_HOLDER = textwrap.dedent("""
    import sys
    from harness import atomic
    with atomic.folder_lock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
""")


def _holder(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "locked\n", proc.stderr.read()
    return proc


def test_a_held_lock_is_waited_for_then_a_timeout_names_the_folder_and_the_holder(tmp_path, monkeypatch, capsys):
    target = tmp_path / "out"
    holder = _holder(target)
    monkeypatch.setenv("HARNESS_LOCK_TIMEOUT", "1.5")
    try:
        start = time.monotonic()
        with pytest.raises(LockTimeout) as info, atomic.folder_lock(target):
            pytest.fail("took a lock another process holds")
        waited = time.monotonic() - start
    finally:
        holder.communicate("done\n", timeout=30)
    assert waited >= 1.5
    assert info.value.pid == holder.pid and info.value.folder == tmp_path
    assert str(tmp_path) in str(info.value) and str(holder.pid) in str(info.value)
    said = capsys.readouterr().err
    assert f"waiting for {tmp_path}: process {holder.pid} is writing there" in said


def test_a_lock_released_while_waiting_is_taken(tmp_path, monkeypatch):
    target = tmp_path / "out"
    holder = _holder(target)
    monkeypatch.setenv("HARNESS_LOCK_TIMEOUT", "60")
    holder.stdin.write("done\n")
    holder.stdin.flush()
    with atomic.folder_lock(target):  # waits for the release, well within the timeout
        pass
    assert holder.wait(timeout=30) == 0


def test_export_blocked_by_another_process_says_so_and_exits_1(tmp_path):
    """Through the command line, as the issue saw it: a second export waits in silence forever today."""
    target = tmp_path / "out"
    holder = _holder(target)
    env = {**os.environ, "HARNESS_LOCK_TIMEOUT": "1.5"}
    try:
        proc = subprocess.run([sys.executable, "-m", "harness", "export", "--out", str(target)], env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        holder.communicate("done\n", timeout=30)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert any(line.startswith(f"[harness] waiting for {tmp_path}") for line in lines), lines
    assert str(tmp_path) in lines[-1] and f"process {holder.pid}" in lines[-1], lines
    assert "HARNESS_LOCK_TIMEOUT" in lines[-1]
    assert not target.exists()


@given(text=st.one_of(
    st.sampled_from(["nan", "inf", "-1", "-0.5", "1e9", "ten", "1,5", "0x10", "--", "0\x1f"]),  # \x1f: not a space
    st.text(st.characters(codec="ascii", exclude_characters="\0"), min_size=1, max_size=12).filter(
        lambda t: not _is_valid(t)),
))
def test_a_bad_lock_timeout_is_a_usage_error_before_any_work(tmp_path_factory, text):
    os.environ["HARNESS_LOCK_TIMEOUT"] = text
    try:
        with pytest.raises(UsageError, match="HARNESS_LOCK_TIMEOUT"):
            atomic.lock_timeout()
        art = tmp_path_factory.mktemp("never") / "art"
        assert cli.main(["parity", "--backends", "torch", "--n", "1", "--artifacts", str(art)]) == 2
        assert not art.exists()
    finally:
        del os.environ["HARNESS_LOCK_TIMEOUT"]


def _is_valid(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return not text.strip()
    return 0 <= value <= 7 * 86_400


@pytest.mark.parametrize(("text", "seconds"), [("", atomic.LOCK_TIMEOUT), ("0", 0.0), (" 2.5 ", 2.5)])
def test_the_lock_timeout_reads_seconds(monkeypatch, text, seconds):
    monkeypatch.setenv("HARNESS_LOCK_TIMEOUT", text)
    assert atomic.lock_timeout() == seconds
