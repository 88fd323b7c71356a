"""The `.mlpackage` folder, read strictly: what its `Manifest.json` names must lie inside it.

A package is a folder anyone could have edited. CoreML (and coremltools' `load_spec`) find
the model spec through the package's own `Manifest.json`, so a tampered manifest could
point the loader at another model, or outside the package. Every reader here goes through
`read_package`, which refuses paths that leave the package, symlinks and malformed
manifests; `package_sha256` hashes every file, the manifest included (by content: its
per-save UUIDs left out), so any edit shows as a changed artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError

MANIFEST = "Manifest.json"
DATA = "Data"


class PackageError(HarnessError):
    """An `.mlpackage` that is malformed, or names something outside itself."""


@dataclass(frozen=True)
class Package:
    root: Path
    spec: Path  # the root model's spec file (model.mlmodel), inside root/Data
    items: tuple[tuple[str, str, str], ...]  # (path, author, description) of every entry, sorted

    def beside_spec(self, rel: str) -> Path:
        """A file the spec names relative to its own folder (`@model_path/...`), confined to the package."""
        return _inside(self.spec.parent, rel, self.root)


def _inside(base: Path, rel: object, root: Path) -> Path:
    if not isinstance(rel, str) or not rel:
        raise PackageError(f"{root.name}: a path in the package is {rel!r}, not a relative path")
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel or "\0" in rel:
        raise PackageError(f"{root.name}: path {rel!r} leaves the package")
    path = base.joinpath(*parts)
    current = root
    for part in path.relative_to(root).parts:  # no symlink anywhere on the way
        current = current / part
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                raise PackageError(f"{root.name}: {current.relative_to(root)} is a symlink; a package holds files")
        except FileNotFoundError:
            raise PackageError(f"{root.name}: {rel!r} is named but missing") from None
    return path


def read_package(root: str | os.PathLike) -> Package:
    """Parse and check `root/Manifest.json`; `PackageError` with the reason when it is not sound."""
    root = Path(root)
    try:
        mode = os.lstat(root).st_mode
    except FileNotFoundError:
        raise PackageError(f"{root} does not exist") from None
    if not stat.S_ISDIR(mode):
        raise PackageError(f"{root} is not a package folder")
    manifest = _inside(root, MANIFEST, root)
    try:
        raw = json.loads(manifest.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise PackageError(f"{root.name}: {MANIFEST} is not readable JSON ({type(err).__name__})") from None
    entries = raw.get("itemInfoEntries") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise PackageError(f"{root.name}: {MANIFEST} has no itemInfoEntries")
    if raw.get("rootModelIdentifier") not in entries:
        raise PackageError(f"{root.name}: {MANIFEST}'s rootModelIdentifier names no entry")
    items, spec = [], None
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise PackageError(f"{root.name}: {MANIFEST} entry {key!r} is not an object")
        path = _inside(root / DATA, entry.get("path"), root)
        items.append((entry["path"], str(entry.get("author", "")), str(entry.get("description", ""))))
        if key == raw.get("rootModelIdentifier"):
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise PackageError(f"{root.name}: the root model {entry['path']!r} is not a file")
            spec = path
    return Package(root, spec, tuple(sorted(items)))


def load_spec(root: str | os.PathLike):
    """The root model's protobuf spec, read from the checked path (not through the manifest again)."""
    from harness.quiet import coremltools

    coremltools()
    from coremltools.proto import Model_pb2

    package = read_package(root)
    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(package.spec.read_bytes())
    except Exception as err:  # a protobuf DecodeError, or an unreadable file
        raise PackageError(f"{package.root.name}: the model spec does not parse ({type(err).__name__})") from None
    return spec


def package_sha256(root: str | os.PathLike, file_sha256) -> str:
    """Content hash of a package: its manifest's entries, and every file (the spec by content).

    Same model, same hash: the manifest's UUIDs (new on every save) are left out, and the
    spec is hashed in protobuf's deterministic serialisation (maps serialise in any order).
    """
    package = read_package(root)
    lines = [f"manifest {json.dumps(package.items)}\n"]
    for f in sorted(package.root.rglob("*")):
        rel = f.relative_to(package.root).as_posix()
        mode = os.lstat(f).st_mode
        if stat.S_ISLNK(mode):
            raise PackageError(f"{package.root.name}: {rel} is a symlink; a package holds files")
        if not stat.S_ISREG(mode) or rel == MANIFEST:
            continue
        digest = _spec_sha256(package.root) if f == package.spec else file_sha256(f)
        lines.append(f"{rel} {digest}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _spec_sha256(root: Path) -> str:
    return hashlib.sha256(load_spec(root).SerializeToString(deterministic=True)).hexdigest()
