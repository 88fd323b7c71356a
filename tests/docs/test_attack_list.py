"""docs/attack-list.md names, for every attack, the test that checks it: each named test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIST = ROOT / "docs" / "attack-list.md"


def _named_tests() -> list[tuple[str, str]]:
    """(file, test function) for every `file.py::name` in the list (a file named alone: its last)."""
    found, last = [], None
    for ref in re.findall(r"`([\w./]*\.py)?(?:::)?(\w+)?(?:\[[^\]]*\])?`", LIST.read_text()):
        file, name = ref
        if file:
            last = file
        if name and name.startswith("test") and last:
            found.append((last, name))
    return found


def _path(file: str) -> Path:
    return ROOT / file if "/" in file else ROOT / "tests" / "reliability" / file


def test_every_test_the_attack_list_names_exists():
    named = _named_tests()
    assert len(named) > 40
    missing = [f"{file}::{name}" for file, name in named
               if not _path(file).is_file() or not re.search(rf"def {name}\(", _path(file).read_text())]
    assert not missing, missing
