"""What a killed writer leaves, and what a user keeps beside it.

A writer killed with SIGKILL part way leaves its temporary file or staging folder; the next writer
of the same target removes that debris, and only that: a live writer's temporary file is left to
finish, and a user's look-alike (`.report.json.keep.tmp`, `.out.keep.old`, even one shaped like
ours) is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import atomic

#: A writer that stops inside `write_bytes`, its temporary file made and locked, until told to go on.
_PAUSED_WRITER = textwrap.dedent("""
    import os, sys
    from harness import atomic
    real_fsync = os.fsync
    def paused(fd):
        print("writing", flush=True)
        sys.stdin.readline()  # go on when told (or be killed here)
        real_fsync(fd)
    os.fsync = paused
    atomic.write_text(sys.argv[1], sys.argv[2])
    print("wrote", flush=True)
""")


def _paused_writer(target: Path, text: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_WRITER, str(target), text], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n", proc.stderr.read()
    return proc


def _temporaries(folder: Path, target: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{target}.") and p.name.endswith(".tmp"))


def _killed_writer_debris(target: Path) -> list[str]:
    proc = _paused_writer(target, "never written")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    debris = _temporaries(target.parent, target.name)
    assert len(debris) == 1, debris  # what the issue saw: a temporary file left forever
    return debris


def test_the_next_writer_removes_a_killed_writer_s_temporary_file(tmp_path):
    target = tmp_path / "encoding_cases.json"
    _killed_writer_debris(target)
    atomic.write_text(target, "next run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoding_cases.json"]
    assert target.read_text() == "next run"


def test_a_live_writer_s_temporary_file_is_left_to_finish(tmp_path):
    target = tmp_path / "report.json"
    live = _paused_writer(target, "theirs")
    try:
        theirs = _temporaries(tmp_path, target.name)
        atomic.write_text(target, "ours")  # cleans the debris of report.json: not a live writer's file
        assert _temporaries(tmp_path, target.name) == theirs
    finally:
        out, err = live.communicate("go on\n", timeout=30)
    assert live.returncode == 0 and out == "wrote\n", err
    assert target.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_fixtures_regenerate_removes_the_debris_of_a_killed_regenerate(tmp_path):
    """The issue's case: `fixtures regenerate` killed while writing, then run again."""
    _killed_writer_debris(tmp_path / "encoding_cases.json")
    (tmp_path / ".encoding_cases.json.keep.tmp").write_text("a user's")
    proc = subprocess.run([sys.executable, "-m", "trendsplit", "fixtures", "regenerate", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _temporaries(tmp_path, "encoding_cases.json") == [".encoding_cases.json.keep.tmp"]


#: Look-alikes of our names a user might have: any middle, including ours' exact shape with a wrong seal.
look_alikes = st.one_of(
    st.text(st.characters(exclude_characters="/\0", exclude_categories=["Cs"]), min_size=1, max_size=24),
    st.from_regex(r"[0-9a-f]{12}-.{1,8}", fullmatch=True).filter(lambda t: "/" not in t and "\0" not in t),
    st.from_regex(r"[0-9a-f]{12}-[0-9a-f]{8}", fullmatch=True),
    st.from_regex(r"[0-9a-z_]{8}", fullmatch=True),  # tempfile.mkstemp's shape, the old naming
    st.sampled_from(["keep", "backup", "old", "stage", "tmp", "1234-abcd"]),
)


@given(middle=look_alikes, kind=st.sampled_from(["tmp", "stage", "old", "probe"]), as_folder=st.booleans())
def test_a_user_s_look_alike_of_writer_debris_is_never_removed(tmp_path_factory, middle, kind, as_folder):
    root = tmp_path_factory.mktemp("look")
    keep = root / f".out.{middle}.{kind}"
    if as_folder:
        keep.mkdir()
        (keep / "precious.txt").write_text("a user's")
    else:
        keep.write_text("a user's")
    atomic.write_text(root / "out", "file")  # cleans the debris of a file named out
    (root / "out").unlink()
    with atomic.staged_dir(root / "out") as stage:  # ...and of a folder named out
        (stage / "f").write_text("1")
    with atomic.staged_dir(root / "out") as stage:
        (stage / "f").write_text("2")
    assert sorted(p.name for p in root.iterdir()) == sorted(["out", keep.name])
    assert (keep / "precious.txt" if as_folder else keep).read_text() == "a user's"


def test_re_export_keeps_a_user_s_keep_old_folder_and_cleans_real_stage_debris(tmp_path):
    """Item 10: a stager killed mid-swap leaves its stage; the next one removes it, not `.out.keep.old`."""
    target = tmp_path / "out"
    for name in (".out.keep.old", ".out.backup.stage", ".out.zz.old"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "precious.txt").write_text("a user's")
    script = textwrap.dedent("""
        import os, sys
        from pathlib import Path
        from harness import atomic
        with atomic.staged_dir(Path(sys.argv[1])) as stage:
            (stage / "half").write_text("half")
            print("staged", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "staged\n", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".stage"))
    assert len(left) == 2, left  # the user's, and the killed stager's
    with atomic.staged_dir(target) as stage:
        (stage / "whole").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.backup.stage", ".out.keep.old", ".out.zz.old", "out"]
    assert all((tmp_path / n / "precious.txt").read_text() == "a user's"
               for n in (".out.keep.old", ".out.backup.stage", ".out.zz.old"))


@pytest.mark.parametrize("kind", ["tmp", "stage", "old", "probe"])
def test_our_names_are_recognised_and_a_changed_seal_is_not(kind):
    name = atomic._fresh_name("out", kind)
    assert atomic._made_here("out", name, kind)
    assert not atomic._made_here("other", name, kind)
    assert not atomic._made_here("out", name, {"tmp": "old", "stage": "tmp", "old": "stage", "probe": "tmp"}[kind])
    forged = name[:-len(kind) - 2] + ("0" if name[-len(kind) - 2] != "0" else "1") + f".{kind}"
    assert not atomic._made_here("out", forged, kind)


def test_a_probe_left_by_a_process_killed_mid_check_is_removed_by_the_next_writer(tmp_path):
    """CI caught it: a swapper killed between making its write probe and removing it left `.out.*.tmp`."""
    script = textwrap.dedent("""
        import os, sys
        from pathlib import Path
        from harness import atomic
        os.unlink = lambda *a, **k: (print("probed", flush=True), sys.stdin.readline())
        atomic.accepts_new_files(Path(sys.argv[1]).parent, Path(sys.argv[1]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "probed\n", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (tmp_path / ".out.keep.probe").write_text("a user's")
    assert len(list(tmp_path.iterdir())) == 2  # the user's, and the killed prober's
    with atomic.staged_dir(tmp_path / "out") as stage:
        (stage / "f").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.keep.probe", "out"]


def test_a_symlink_named_like_our_debris_is_not_followed(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "precious.txt").write_text("a user's")
    link = tmp_path / atomic._fresh_name("out", "stage")
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    file_link = tmp_path / atomic._fresh_name("out", "tmp")
    file_link.symlink_to(tmp_path / "elsewhere" / "precious.txt")
    probe_link = tmp_path / atomic._fresh_name("out", "probe")
    probe_link.symlink_to(tmp_path / "elsewhere" / "precious.txt")
    atomic.write_text(tmp_path / "out", "x")
    (tmp_path / "out").unlink()
    with atomic.staged_dir(tmp_path / "out") as stage:
        (stage / "f").write_text("1")
    assert (tmp_path / "elsewhere" / "precious.txt").read_text() == "a user's"
    assert os.path.lexists(link)
    assert os.path.lexists(file_link)
    assert os.path.lexists(probe_link)
