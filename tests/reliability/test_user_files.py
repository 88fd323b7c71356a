"""Files a user names are read only when they are regular files of a sane size and depth.

A FIFO given as a results file, or in place of a package's `Manifest.json`, hung `compare` and
`parity` (the second holding the export lock); a results file symlinked to `/dev/zero`, or 3 GB
long, was read whole; 100,000-deep JSON or a 72-dimension shape was an "internal error". Every
reader goes through `harness.files`: each kind of path below is refused quickly, as the
reader's own one-line error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import files
from harness.errors import HarnessError, UsageError
from harness.mil import load_program
from harness.mlpackage import PackageError, load_spec, read_package, weights_sha256
from harness.parity import steps
from harness.parity.verdict import ParityReport
from harness.results import MAX_DIMS, Results, ResultsError
from tests import runs

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "fixtures" / "exported" / "tiny-fp32.mlpackage"
GIGABYTES_3 = 3 * 10**9


@contextlib.contextmanager
def within(seconds: float):
    """Fail instead of hanging: SIGALRM interrupts a blocked open() or read() in this (main) thread."""
    def alarm(*_):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _socket_at(path: Path):
    short = Path(tempfile.mkdtemp(prefix="s", dir="/tmp"))  # a socket path must be short: bind it there
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(short / "s"))
        path.symlink_to(short / "s")
        yield
    finally:
        sock.close()
        shutil.rmtree(short)


def make(kind: str, path: Path, stack: contextlib.ExitStack) -> None:
    """Replace `path` by a path of this kind."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink to a fifo":
        os.mkfifo(path.with_name(path.name + ".fifo"))
        path.symlink_to(path.with_name(path.name + ".fifo"))
    elif kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "symlink to /dev/null":
        path.symlink_to("/dev/null")
    elif kind == "folder":
        path.mkdir()
    elif kind == "socket":
        stack.enter_context(_socket_at(path))
    elif kind == "dangling symlink":
        path.symlink_to(path.with_name("nowhere"))
    elif kind == "symlink loop":
        path.symlink_to(path)
    elif kind == "3 GB sparse file":
        with open(path, "wb") as f:
            f.truncate(GIGABYTES_3)
    else:
        raise AssertionError(kind)


KINDS = ["fifo", "symlink to a fifo", "symlink to /dev/zero", "symlink to /dev/null", "folder", "socket",
         "dangling symlink", "symlink loop", "3 GB sparse file"]


# -- the readers, each set up with everything else valid --------------------------------------------

def _run_file(name: str):
    def setup(tmp: Path) -> tuple[Path, object]:
        folder = runs.write(tmp / "run")
        return folder / name, lambda: steps.read_results([folder])
    return setup


def _comparison(tmp: Path):
    folder = runs.write(tmp / "run")
    done = steps.read_results([folder])
    path = steps.compare(done.cases, done.results).write(tmp / "comparison.json")
    return path, lambda: ParityReport.read(path)


def _package_file(rel: str, read):
    def setup(tmp: Path):
        package = tmp / TINY.name
        shutil.copytree(TINY, package)
        return package / rel, lambda: read(package)
    return setup


def _fixture(tmp: Path):
    """`fixtures check` on a folder whose encoding fixture is the path under attack (the other fixtures are
    missing, a line each: not what is asserted on)."""
    from trendsplit import fixtures

    path = tmp / "encoding_cases.json"
    path.write_text(json.dumps({"kind": "encoding", "provenance": {}, "cases": []}))

    def check():
        drift = fixtures.check(tmp)
        (problem,) = [p for p in drift.problems if p.startswith(f"{path.name}:")]
        raise HarnessError(problem)  # a drift line, not an exception: raised here to assert on alike
    return path, check


def _model_file(tmp: Path):
    from harness import api

    tmp.mkdir(parents=True, exist_ok=True)
    path = shutil.copy(ROOT / "tests" / "user_model" / "tiny_vision.py", tmp / "model.py")
    return Path(path), lambda: api.load(f"{path}:describe_model")


READERS = {
    "results file": (_run_file("coreml_fp16_CPU_AND_NE.json"), ResultsError),
    "cases file": (_run_file("cases.json"), ResultsError),
    "run.json": (_run_file("run.json"), ResultsError),
    "comparison": (_comparison, ResultsError),
    "package Manifest.json": (_package_file("Manifest.json", read_package), PackageError),
    "package weights (hashed)": (_package_file("Data/com.apple.CoreML/weights/weight.bin", weights_sha256),
                                 PackageError),
    "package weights (interpreted)": (_package_file("Data/com.apple.CoreML/weights/weight.bin", load_program),
                                      PackageError),
    "package spec": (_package_file("Data/com.apple.CoreML/model.mlmodel", load_spec), PackageError),
    "fixture": (None, HarnessError),
    "model file": (_model_file, UsageError),
}


@settings(max_examples=60)
@given(reader=st.sampled_from(sorted(READERS)), kind=st.sampled_from(KINDS))
def test_a_path_that_is_not_a_regular_file_of_sane_size_is_refused_quickly(tmp_path_factory, reader, kind):
    tmp = tmp_path_factory.mktemp("kinds")
    setup, error = READERS[reader]
    if kind == "3 GB sparse file" and "weights" in reader:
        return  # weights are as large as the model is: hashed in chunks, mapped by the blob reader
    if kind == "folder" and reader == "package weights (hashed)":
        return  # a folder of no files inside the weights folder is hashed (as another model's weights)
    with contextlib.ExitStack() as stack:
        path, read = (_fixture if setup is None else setup)(tmp)
        make(kind, path, stack)
        start = time.monotonic()
        with within(10), pytest.raises(error) as refused:
            read()
        assert time.monotonic() - start < 10
    message = str(refused.value)
    assert "\n" not in message and path.name in message, message


def test_the_readers_read_the_same_files_when_they_are_regular(tmp_path, monkeypatch):
    for name, (setup, _) in READERS.items():
        if setup is not None:
            _, read = setup(tmp_path / name.replace(" ", "_"))
            read()


# -- sizes, depth and dimensions ---------------------------------------------------------------------

def test_read_bytes_takes_a_file_up_to_its_limit_and_not_a_byte_more(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert files.read_bytes(path, limit=100) == b"x" * 100
    with pytest.raises(HarnessError, match="holds 100 bytes, more than the 99"):
        files.read_bytes(path, limit=99)


def test_a_file_larger_than_it_says_is_read_only_to_the_limit():
    """procfs files say size 0 and hold more: read to the limit, then refused."""
    assert files.read_bytes("/proc/self/status", limit=1 << 20).startswith(b"Name:")
    with pytest.raises(HarnessError, match="more than the 10 bytes"):
        files.read_bytes("/proc/self/status", limit=10)


def test_a_results_file_beside_its_cases_is_capped_by_what_its_outputs_can_take(tmp_path):
    folder = runs.write(tmp_path)
    done = steps.read_results([folder])
    limit = done.cases.results_limit()
    values = len(done.cases.cases) * (1 + 4 + 2 * 2)  # the reference's activation scale, then the outputs
    assert limit == (4 << 20) + 4 * -(-values * 8 // 3)  # every value as float64, in base64, and room
    path = folder / "torch_fp32.json"
    text = path.read_text().rstrip("\n")
    path.write_text(text + " " * (limit - len(text)))  # exactly the limit: whitespace JSON allows
    assert steps.read_results([folder]).results[0].backend == "torch@fp32"
    path.write_text(text + " " * (limit - len(text) + 1))
    with pytest.raises(ResultsError, match=rf"torch_fp32.json holds {limit + 1:,} bytes, more than the {limit:,}"):
        steps.read_results([folder])


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@given(depth=st.integers(files.MAX_DEPTH + 1, 200_000))
def test_json_nested_past_the_bound_is_one_results_error(tmp_path_factory, depth):
    path = tmp_path_factory.mktemp("deep") / "r.json"
    path.write_text('{"format": "trendsplit-harness/results", "version": 1, "provenance": ' + _nested(depth) + "}")
    with pytest.raises(ResultsError, match=f"nests arrays and objects more than {files.MAX_DEPTH} deep"):
        Results.read(path)


@given(depth=st.integers(1, files.MAX_DEPTH - 1))
def test_json_within_the_bound_parses(tmp_path_factory, depth):
    path = tmp_path_factory.mktemp("shallow") / "j.json"
    path.write_text(_nested(depth))
    assert files.read_json(path, limit=1 << 20) is not None


def _results_with_shape(folder: Path, dims: int) -> Path:
    path = folder / "torch_fp32.json"
    doc = json.loads(path.read_text())
    doc["outputs"]["score"]["shape"] = [6] + [1] * (dims - 2) + [4]
    path.write_text(json.dumps(doc))
    return path


@settings(max_examples=20)
@given(dims=st.integers(MAX_DIMS + 1, 300))
def test_a_shape_of_more_dimensions_than_an_array_here_has_is_one_results_error(tmp_path_factory, dims):
    folder = runs.write(tmp_path_factory.mktemp("dims"))
    path = _results_with_shape(folder, dims)
    with pytest.raises(ResultsError, match=f"shape has {dims} dimensions; an array here has at most {MAX_DIMS}"):
        Results.read(path)


# -- the command line, as a user meets it ------------------------------------------------------------

def _compare(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "compare", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "3 GB sparse file", "100,000-deep JSON",
                                  "72-dimension shape"])
def test_compare_refuses_a_hostile_results_file_in_one_line_with_exit_2(tmp_path, kind):
    folder = runs.write(tmp_path / "run")
    path = folder / "coreml_fp16_CPU_AND_NE.json"
    with contextlib.ExitStack() as stack:
        if kind == "100,000-deep JSON":
            path.write_text('{"format": "trendsplit-harness/results", "provenance": ' + _nested(100_000) + "}")
        elif kind == "72-dimension shape":
            doc = json.loads(path.read_text())
            doc["outputs"]["score"]["shape"] = [6] + [1] * 70 + [4]
            path.write_text(json.dumps(doc))
        else:
            make(kind, path, stack)
        start = time.monotonic()
        proc = _compare(str(folder))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert path.name in line and "internal error" not in line
    assert time.monotonic() - start < 60


def test_parity_does_not_hang_on_a_fifo_manifest_inside_an_export(trendsplit, trendsplit_export, tmp_path):
    """The export's package is checked before reuse: its FIFO `Manifest.json` is a changed file, not a hang."""
    from harness.export import stale_reason

    _, folder = trendsplit_export
    copy = tmp_path / "export"
    shutil.copytree(folder, copy)
    manifest = copy / "trendsplit-fp32.mlpackage" / "Manifest.json"
    manifest.unlink()
    os.mkfifo(manifest)
    with within(30):
        reason = stale_reason(trendsplit, copy)
    assert "trendsplit-fp32.mlpackage" in reason and "not a regular file" in reason


@pytest.mark.parametrize("kind", ["missing", "fifo", "regular file", "symlink to /dev/zero", "empty"])
def test_a_folder_argument_to_read_from_that_is_not_one_is_a_usage_error(tmp_path, kind):
    """`fixtures check --dir <a FIFO>` said every fixture was "missing" and exited 1, as drift; an empty
    `--cases ''` was taken for no argument and the folder's own cases were read instead; `compare
    --artifacts <not a folder>` was ignored without a word (nothing localised)."""
    import io

    from harness import cli
    from trendsplit import cli as kit_cli

    path = tmp_path / "x"
    with contextlib.ExitStack() as stack:
        if kind == "empty":
            path = ""
        elif kind == "regular file":
            path.write_text("{}")
        elif kind != "missing":
            make(kind, path, stack)
        folder = runs.write(tmp_path / "run")
        for main, argv in ((kit_cli.main, ["fixtures", "check", "--dir", str(path)]),
                           (cli.main, ["compare", str(folder), "--cases", str(path)]),
                           (cli.main, ["compare", str(folder), "--artifacts", str(path)])):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), within(30):
                try:
                    code = main(argv)
                except SystemExit as exit_:  # argparse's own usage error
                    code = exit_.code
            assert code == 2 and err.getvalue().strip().splitlines()[-1].count("error: ") == 1, (argv, err.getvalue())
