"""Every path a command line writes to, under attack: each kind of path that cannot or must not be
written is one line and exit 2 before any work, and nothing on disk changes.

The kinds: symlinks (to a folder, to a file, dangling, looping), pipes, sockets, devices, a file
where a folder should be and the reverse, parents that are files or dangling links, /proc and /sys,
empty paths and NUL bytes; for export folders also folders of other things, someone else's
`manifest.json`, and the harness's own manifest beside a user's files. Hypothesis draws the writer,
the kind, the names and how deep below the bad part the path goes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import cli
from harness.export.manifest import EXPORT_FORMAT_VERSION, Artifact, Manifest
from trendsplit import cli as kit_cli
from trendsplit import train

REPO = Path(__file__).resolve().parents[2]

#: (command line with {p} for the path under attack). Files, folders written into, export folders.
FILE_WRITERS = [
    "harness parity --json {p}", "harness parity --html {p}", "harness compare results.json --json {p}",
    "harness compare results.json --html {p}", "harness report --json {p}", "harness report --out {p}",
    "harness report saved.json --html {p}", "trendsplit evaluate --json {p}", "trendsplit bench --json {p}",
]
FOLDER_WRITERS = [
    "harness run --out {p}", "harness parity --save {p}", "trendsplit fixtures regenerate --dir {p}",
    "trendsplit evaluate --artifacts {p}", "trendsplit bench --artifacts {p}", "train --out {p}",
]
EXPORT_WRITERS = [
    "harness export --out {p}", "harness parity --artifacts {p}", "harness run --artifacts {p}",
    "harness report --artifacts {p}", "harness localize --artifacts {p}",
]


def _symlink_to_folder(root, name):
    (root / "real").mkdir()
    (root / "real" / "run.json").write_text("the user's")
    (root / name).symlink_to(root / "real", target_is_directory=True)
    return root / name


def _symlink_to_file(root, name):
    (root / "real.txt").write_text("the user's")
    (root / name).symlink_to(root / "real.txt")
    return root / name


def _dangling(root, name):
    (root / name).symlink_to(root / "nowhere")
    return root / name


def _loop(root, name):
    (root / name).symlink_to(root / name)
    return root / name


def _fifo(root, name):
    os.mkfifo(root / name)
    return root / name


def _socket(root, name):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / name))
    server.close()  # the socket file stays
    return root / name


def _file(root, name):
    (root / name).write_text("the user's")
    return root / name


def _folder(root, name):
    (root / name).mkdir()
    return root / name


def _foreign_folder(root, name):
    (root / name).mkdir()
    (root / name / "thesis.tex").write_text("years of work")
    return root / name


def _foreign_manifest(root, name):
    """A browser extension: its own manifest.json, and the rest of it."""
    (root / name).mkdir()
    (root / name / "manifest.json").write_text(json.dumps({"manifest_version": 3, "name": "ext"}))
    (root / name / "background.js").write_text("chrome.runtime.onInstalled.addListener(() => {});")
    return root / name


def _harness_manifest_and_user_files(root, name):
    """The harness's own manifest, verified, beside a file the harness did not write."""
    folder = root / name
    folder.mkdir()
    (folder / "m.onnx").write_bytes(b"onnx")
    Manifest(model="m", weights_sha256="0" * 64, model_fingerprint="0" * 64, weights_source="seeded", trained=False,
             metadata={}, export_format_version=EXPORT_FORMAT_VERSION, versions={},
             artifacts=(Artifact("onnx", "fp32", "m.onnx", "0" * 64),)).write(folder)
    (folder / "notes.md").write_text("mine")
    return folder


def _manifest_fifo(root, name):
    (root / name).mkdir()
    os.mkfifo(root / name / "manifest.json")
    return root / name


def _under(make):
    def below(root, name):
        return make(root, name) / "sub"
    return below


ANY_KIND = {
    "symlink to a folder": _symlink_to_folder, "symlink to a file": _symlink_to_file, "dangling symlink": _dangling,
    "symlink loop": _loop, "pipe": _fifo, "socket": _socket, "under a file": _under(_file),
    "under a dangling symlink": _under(_dangling), "under a pipe": _under(_fifo),
    "in /proc": lambda root, name: Path("/proc") / name, "in /proc/self": lambda root, name: Path("/proc/self") / name,
    "in /sys": lambda root, name: Path("/sys") / name, "a device": lambda root, name: Path("/dev/null"),
}
FILE_KINDS = {**ANY_KIND, "a folder": _folder}
FOLDER_KINDS = {**ANY_KIND, "a file": _file}
EXPORT_KINDS = {**FOLDER_KINDS, "a folder of other things": _foreign_folder,
                "someone else's manifest.json": _foreign_manifest,
                "the harness's manifest beside a user's files": _harness_manifest_and_user_files,
                "a pipe named manifest.json": _manifest_fifo}
#: Paths that name nothing at all.
NO_PATHS = {"empty": "", "blank": "  ", "NUL byte": "out\0put"}

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._ü-]{0,15}", fullmatch=True)


def _snapshot(root: Path) -> dict:
    """Everything under `root`, symlinks not followed: kinds, file bytes, link targets."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            mode = os.lstat(p).st_mode
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(mode):
                seen[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(mode):
                seen[rel] = ("file", p.read_bytes())
            else:
                seen[rel] = (stat.S_IFMT(mode),)
    return seen


def _main(argv: list[str]) -> tuple[int, str]:
    """Run one command line in this process: (exit code, stderr)."""
    program, *rest = argv
    main = {"harness": cli.main, "trendsplit": kit_cli.main, "train": train.main}[program]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(rest)
        except SystemExit as exit_:  # argparse's own usage errors
            code = exit_.code
    return code, err.getvalue()


def _attack(writer: str, path: str, root: Path) -> None:
    """`writer` with `path`: exit 2, one line naming it, nothing under `root` changed."""
    before = _snapshot(root)
    cwd = os.getcwd()
    os.chdir(root)  # defaults (results/, artifacts/) land here, should a refusal ever fail
    try:
        code, err = _main([path if a == "{p}" else a for a in writer.split()])
    finally:
        os.chdir(cwd)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not any(line.startswith("[harness]") for line in lines), err  # no work began
    if path.strip() and "\0" not in path:
        assert path in lines[-1], err
    assert _snapshot(root) == before


@contextlib.contextmanager
def _root():
    """A fresh short folder per example (a socket's path must stay under 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="w", dir="/tmp"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@given(writer=st.sampled_from(FILE_WRITERS), kind=st.sampled_from(sorted(FILE_KINDS)), name=names)
def test_an_output_file_that_cannot_be_written_is_refused_before_any_work(writer, kind, name):
    with _root() as root:
        _attack(writer, str(FILE_KINDS[kind](root, name)), root)


@given(writer=st.sampled_from(FOLDER_WRITERS), kind=st.sampled_from(sorted(FOLDER_KINDS)), name=names)
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(writer, kind, name):
    with _root() as root:
        _attack(writer, str(FOLDER_KINDS[kind](root, name)), root)


@given(writer=st.sampled_from(EXPORT_WRITERS), kind=st.sampled_from(sorted(EXPORT_KINDS)), name=names)
def test_an_export_folder_that_is_not_the_harness_s_is_refused_before_any_work(writer, kind, name):
    with _root() as root:
        _attack(writer, str(EXPORT_KINDS[kind](root, name)), root)


@pytest.mark.parametrize("writer", FILE_WRITERS + FOLDER_WRITERS + EXPORT_WRITERS)
@pytest.mark.parametrize("path", list(NO_PATHS.values()), ids=list(NO_PATHS))
def test_a_path_that_names_nothing_is_refused(writer, path):
    with _root() as root:
        _attack(writer, path, root)


@pytest.mark.parametrize(("argv", "says"), [
    (["parity", "--compute-units", "BOGUS"], "invalid choice: 'BOGUS'"),
    (["run", "--compute-units", "gpu"], "invalid choice: 'GPU'"),
    (["report", "--compute-units", "NE"], "invalid choice: 'NE'"),
    (["parity", "--policy", "loose"], "invalid choice: 'loose'"),
    (["compare", "r.json", "--policy", "fp8"], "invalid choice: 'fp8'"),
    (["localize", "--reference", "fp64"], "unknown precision profile 'fp64'"),
    (["localize", "--profile", "int8"], "unknown precision profile 'int8'"),
])
def test_a_choice_that_does_not_exist_is_refused_by_argparse(argv, says):
    code, err = _main(["harness", *argv])
    assert code == 2 and says in err.splitlines()[-1], err


@pytest.mark.parametrize(("argv", "says"), [
    (["--train-size", "0"], "between 1"), (["--epochs", "-3"], "between 1"), (["--threads", "0"], "between 1"),
    (["--pos-weight", "nan"], "positive number"), (["--pos-weight", "-1"], "positive number"),
    (["--dilations", "1,x"], "dilations"), (["--seed", "-1"], "between 0"),
])
def test_training_numbers_are_checked_before_training(argv, says):
    code, err = _main(["train", *argv])
    assert code == 2 and says in err.splitlines()[-1], err


def test_outputs_inside_the_export_folder_or_on_one_file_are_refused(tmp_path):
    art = tmp_path / "art"
    for argv, says in (
        (["parity", "--artifacts", art, "--save", art], "in the export folder"),
        (["parity", "--artifacts", art, "--json", art / "report.json"], "in the export folder"),
        (["run", "--artifacts", art, "--out", art / "run"], "in the export folder"),
        (["parity", "--artifacts", art, "--json", tmp_path / "r", "--html", tmp_path / "r"], "name the same path"),
    ):
        code, err = _main(["harness", *map(str, argv)])
        assert code == 2 and says in err.splitlines()[-1], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- the command lines themselves: exit codes, one line, no torch for a usage error ---------------------

def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-X", "importtime", "-m", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _said(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("import time:")]


@pytest.mark.parametrize("argv", [
    ["harness", "export", "--out", "/proc/x"],
    ["harness", "parity", "--json", "/proc/x/report.json"],
    ["harness", "parity", "--compute-units", "BOGUS"],
    ["harness", "run", "--out", "{link}"],
    ["harness", "compare", "r.json", "--json", "{file}/x.json"],
    ["trendsplit", "fixtures", "regenerate", "--dir", "{link}"],
    ["trendsplit", "evaluate", "--json", "/sys/x.json"],
])
def test_a_usage_error_is_exit_2_in_one_line_without_importing_torch(tmp_path, argv):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "run.json").write_text("the user's")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "file").write_text("the user's")
    argv = [a.format(link=tmp_path / "link", file=tmp_path / "file") for a in argv]
    proc = _run(*argv, cwd=tmp_path)
    said = _said(proc)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert said[-1].startswith(f"python -m {argv[0]}") and "error: " in said[-1], said
    assert not [line for line in proc.stderr.splitlines() if re.search(r"\|\s+torch$", line)], \
        "a usage error imported torch"
    assert (tmp_path / "real" / "run.json").read_text() == "the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "link", "real"]


def test_run_through_a_symlink_is_refused_and_the_target_kept(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "run.json").write_text("the user's run")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    proc = _run("harness", "run", "--backends", "torch", "--n", "2", "--out", "link", "--artifacts", "art",
                cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "link is a symlink" in _said(proc)[-1]
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["run.json"]
    assert (tmp_path / "real" / "run.json").read_text() == "the user's run"


def test_the_kit_names_a_bad_model_or_a_foreign_export_folder_before_its_benchmarks(tmp_path):
    (tmp_path / "trendsplit").mkdir()
    (tmp_path / "trendsplit" / "thesis.tex").write_text("years of work")
    for argv, says in ((["bench", "--model", "no-such-model"], "unknown model"),
                       (["bench", "--artifacts", str(tmp_path)], "other content"),
                       (["evaluate", "--artifacts", str(tmp_path)], "other content")):
        code, err = _main(["trendsplit", *argv])
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and says in lines[-1], err
        assert not any(line.startswith("[harness]") for line in lines), err  # nothing was timed or run
    assert [p.name for p in (tmp_path / "trendsplit").iterdir()] == ["thesis.tex"]


# -- an output over what the command reads ------------------------------------------------------------

def _spelled(how: str, target: Path, root: Path) -> str:
    """A path naming `target`: itself, through a symlink or a hard link, or spelled another way."""
    if how == "symlink":
        (root / "link.json").symlink_to(target)
        return str(root / "link.json")
    if how == "hard link":
        os.link(target, root / "hard.json")
        return str(root / "hard.json")
    if how == "another spelling":
        return str(target.parent / ".." / target.parent.name / "." / target.name)
    return str(target)


@settings(max_examples=min(100, settings().max_examples))  # 264 combinations, ~40 ms each
@given(command=st.sampled_from(["compare a folder", "compare files", "report"]),
       option=st.sampled_from(["--json", "--html"]), which=st.integers(0, 10),
       how=st.sampled_from(["itself", "symlink", "hard link", "another spelling"]))
def test_an_output_that_names_a_file_the_command_reads_is_refused_and_the_file_kept(command, option, which, how):
    """`compare run --json run/torch_fp32.json` replaced the reference's results with the comparison
    (and `report c.json --html run/cases.json` the cases with a page): the next compare could not run."""
    from harness.parity import steps
    from tests import runs

    with _root() as root:
        folder = runs.write(root / "run")
        done = steps.read_results([folder])
        steps.compare(done.cases, done.results).write(root / "c.json")
        files = sorted(folder.iterdir())
        ref, phone, cases = folder / "torch_fp32.json", folder / "coreml_fp16_CPU_AND_NE.json", folder / "cases.json"
        argv, read = {
            "compare a folder": (["harness", "compare", str(folder)], files),
            "compare files": (["harness", "compare", str(ref), str(phone), "--cases", str(cases)], [ref, phone, cases]),
            "report": (["harness", "report", str(root / "c.json")], [root / "c.json"]),
        }[command]
        path = _spelled(how, read[which % len(read)], root)
        before = _snapshot(root)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            code, err = _main([*argv, option, path])
        finally:
            os.chdir(cwd)
        said = "it exists and is a symlink" if how == "symlink" else "which this command reads"  # (refused anyway)
        assert code == 2 and said in err.splitlines()[-1], err
        assert _snapshot(root) == before


def test_parity_s_json_over_a_file_its_save_writes_is_refused(tmp_path):
    save = tmp_path / "saved"
    for name in ("cases.json", "run.json", "torch_fp32.json"):
        code, err = _main(["harness", "parity", "--backends", "torch,onnxruntime", "--artifacts", str(tmp_path / "a"),
                           "--save", str(save), "--json", str(save / name)])
        assert code == 2 and "name the same path" in err.splitlines()[-1], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
