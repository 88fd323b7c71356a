"""The documentation builds as a site (`mkdocs build --strict`: every page in the menu, no broken link
between pages), and every relative link in the README and the pages names a file or folder that exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` (outside code blocks) whose target does not exist."""
    text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())
    out = []
    for target in LINK.findall(text):
        if re.match(r"^(https?:|mailto:|#)", target):
            continue
        path = target.partition("#")[0]
        if not (page.parent / path).exists():
            out.append(f"{page.relative_to(ROOT)}: {target}")
    return out


def test_every_relative_link_names_something_that_exists():
    assert [b for p in pages() for b in broken_links(p)] == []


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [gone](missing.md#part) [web](https://example.org)\n```\n[code](nowhere)\n```\n")
    assert [b.split(": ")[1] for b in broken_links_in(page, tmp_path)] == ["missing.md#part"]


def broken_links_in(page: Path, root: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return broken_links(page)
    finally:
        ROOT = saved


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is in the test extra: pip install -e '.[test]'")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()
    assert (tmp_path / "site" / "trendsplit" / "models" / "index.html").is_file()
