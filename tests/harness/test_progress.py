"""Long steps show progress: tqdm bars with a rate and an ETA on a terminal, nothing of the kind in a log or pipe,
nothing at all under -q (harness/progress.py). The command line runs for real with stderr on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from harness import progress
from harness.progress import Paced
from tests.user_model import tiny_vision

MODEL = f"{Path(tiny_vision.__file__)}:describe_model"


def stderr_of(argv: list[str], terminal: bool) -> str:
    """What `python -m harness argv` wrote on stderr, a pseudo-terminal (unsized, as an IDE's may be) or a pipe."""
    if not terminal:
        return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True).stderr
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "harness", *argv], stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    said = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal (EIO)
            break
        if not chunk:
            break
        said += chunk
    proc.wait()
    os.close(main)
    return said.decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def exported(shared_export):
    from harness import api

    return shared_export(api.load(MODEL))[1]


def test_export_stages_show_a_bar_on_a_terminal(tmp_path):
    said = stderr_of(["export", "--model", MODEL, "--out", str(tmp_path / "out")], terminal=True)
    assert "export tiny-vision:" in said and "3/3 [" in said and "stage/s" in said, said
    assert "coreml@fp16]" in said  # the stage at work, beside the count


def test_the_run_shows_its_cases_with_a_rate_and_the_backend_at_work(exported):
    said = stderr_of(["parity", "--model", MODEL, "--backends", "torch,onnxruntime", "--n", "20",
                      "--artifacts", str(exported)], terminal=True)
    assert "parity tiny-vision:" in said and "20/20 [" in said and "case/s" in said, said
    assert "onnxruntime@fp32]" in said and "judging]" in said


def test_a_log_gets_the_messages_and_no_bar(exported, capsys):
    from harness.cli import main

    assert main(["parity", "--model", MODEL, "--backends", "torch,onnxruntime", "--n", "20",
                 "--artifacts", str(exported)]) == 0
    said = capsys.readouterr().err  # not a terminal
    assert "[harness] running onnxruntime@fp32 on 20 cases" in said
    assert "\r" not in said and "case/s" not in said and "%|" not in said


def test_quiet_on_a_terminal_says_nothing(exported):
    said = stderr_of(["parity", "-q", "--model", MODEL, "--backends", "torch,onnxruntime", "--n", "20",
                      "--artifacts", str(exported)], terminal=True)
    assert said == ""


# A long loop's lines: every twentieth, the last, and at least every `LINE_SECONDS` (a run of 10**12 cases is a
# day between twentieths, and said nothing in between).
def test_a_loop_says_every_twentieth_and_its_last_step():
    pace = Paced(45, seconds=1e9)
    assert [done for done in range(1, 46) if pace.due(done)] == [2 * k for k in range(1, 23)] + [45]


def test_a_loop_of_one_step_says_nothing():
    assert not Paced(1).due(1)


def test_a_long_wait_between_twentieths_is_said(monkeypatch):
    clock = iter([0.0, 10.0, 31.0, 40.0, 62.0])  # made at 0; steps done at 10, 31, 40 and 62 s
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    pace = Paced(10**9)  # a twentieth is 5 * 10**7 steps
    assert [pace.due(done) for done in (1, 2, 3, 4)] == [False, True, False, True]
