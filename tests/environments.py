"""Environments as a user's install would make them, built in a second from this one's installed packages.

`installed_as(folder, "trendsplit-harness[kit]")` makes a virtual environment whose site-packages holds
links to exactly the distributions that requirement installs (its closure, read from their metadata),
nothing else: what `pip install 'trendsplit-harness[kit]'` would give, without downloading or building.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: This environment's site-packages, where every distribution a view links to is installed.
SITE = Path(sysconfig.get_paths()["purelib"])


def closure(requirement: str) -> dict[str, metadata.Distribution]:
    """Every installed distribution `requirement` needs, by canonical name (its extras' included)."""
    found: dict[str, metadata.Distribution] = {}
    extras: dict[str, set[str]] = {}
    todo = [Requirement(requirement)]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found and set(req.extras) <= extras[name]:
            continue
        if name not in found:  # installed in site-packages (not a build's egg-info in the working folder)
            found[name] = next(metadata.distributions(name=req.name, path=[str(SITE)]))
        extras[name] = extras.get(name, set()) | set(req.extras)
        for text in found[name].requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *extras[name])):
                todo.append(sub)
    return found


def _top_level(dist: metadata.Distribution) -> set[str]:
    """The names a distribution puts directly in site-packages (its dist-info included)."""
    names = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
    return {n for n in names if n != "__pycache__"}


def installed_as(folder: Path, requirement: str) -> Path:
    """A venv in `folder` holding only what `requirement` installs; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for dist in closure(requirement).values():
        for name in _top_level(dist):
            if (SITE / name).exists() and not (site / name).exists():
                (site / name).symlink_to(SITE / name)
    return python
