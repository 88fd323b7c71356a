"""Whether the kit's extra is installed: the harness installs alone, and the kit's libraries come with
`pip install 'trendsplit-harness[kit]'`.

The kit's modules ship in the harness's distribution, so its `trendsplit` command and its model provider
exist in every install; without the extra they say so in one line (the command) or offer no models (the
provider), instead of failing deep inside with a `ModuleNotFoundError`. What the extra holds is read from
the installed distribution's own metadata, so it cannot drift from `pyproject.toml`.
"""

from __future__ import annotations

import functools
from importlib import metadata

from packaging.requirements import Requirement

from harness.toolkit import UsageError

DISTRIBUTION = "trendsplit-harness"
EXTRA = "kit"
INSTALL = f"pip install '{DISTRIBUTION}[{EXTRA}]' (from a clone: pip install -e '.[{EXTRA}]')"


def requirements(extra: str = EXTRA) -> list[Requirement]:
    """What `extra` adds to the installed distribution (empty when the distribution is not installed)."""
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    found = [Requirement(text) for text in declared]
    return [r for r in found if r.marker is not None and r.marker.evaluate({"extra": extra})
            and not r.marker.evaluate({"extra": ""})]


@functools.cache
def missing() -> tuple[str, ...]:
    """The kit's requirements that are not installed here, or installed at a version it does not accept."""
    out = []
    for req in requirements():
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(str(req.name))
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{req.name}{req.specifier} (found {version})")
    return tuple(out)


def require() -> None:
    """A `UsageError` naming what is missing and the one line that installs it, unless the kit is installed."""
    if missing():
        raise UsageError(f"the trendsplit kit needs its extra ({', '.join(missing())} missing): {INSTALL}")
