"""Atomic writes: the old content survives any failure."""

import pytest

from harness import atomic


def test_write_text_replaces_content(tmp_path):
    target = tmp_path / "a" / "f.json"
    atomic.write_text(target, "one")
    atomic.write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]


def test_failed_staged_dir_keeps_the_old_folder(tmp_path):
    target = tmp_path / "out"
    with atomic.staged_dir(target) as stage:
        (stage / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic.staged_dir(target) as stage:
        (stage / "half.txt").write_text("half")
        raise RuntimeError("converter crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]


def test_staged_dir_replaces_the_old_folder_whole(tmp_path):
    target = tmp_path / "out"
    with atomic.staged_dir(target) as stage:
        (stage / "a").write_text("1")
    with atomic.staged_dir(target) as stage:
        (stage / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
