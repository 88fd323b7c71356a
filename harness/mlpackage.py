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

from harness import files
from harness.errors import HarnessError

MANIFEST = "Manifest.json"
DATA = "Data"
#: The model's weight files sit in this folder beside its spec (`@model_path/weights`), in a
#: package and in the `.mlmodelc` Xcode compiles from it alike.
WEIGHTS = "weights"
#: A package's manifest lists a few entries: kilobytes. A model spec holds the program (and
#: small constants; weights go to the weight files): protobuf caps a message at 2 GiB.
MAX_MANIFEST_BYTES = 1 << 20
MAX_SPEC_BYTES = 2 << 30


class PackageError(HarnessError):
    """An `.mlpackage` that is malformed, or names something outside itself."""


@dataclass(frozen=True)
class Package:
    root: Path
    spec: Path  # the root model's spec file (model.mlmodel), inside root/Data
    items: tuple[tuple[str, str, str], ...]  # (path, author, description) of every entry, sorted

    def beside_spec(self, rel: str) -> Path:
        """A regular file the spec names relative to its own folder (`@model_path/...`), confined to the package."""
        path = _inside(self.spec.parent, rel, self.root)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise PackageError(f"{self.root.name}: {rel!r} is not a regular file")
        return path


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
    raw = files.read_json(_inside(root, MANIFEST, root), limit=MAX_MANIFEST_BYTES, error=PackageError)
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
    data = files.read_bytes(package.spec, limit=MAX_SPEC_BYTES, error=PackageError)
    try:
        spec.ParseFromString(data)
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


def weights_sha256(root: str | os.PathLike) -> str:
    """sha256 of a CoreML model's weights as stored: the files of the `weights` folder beside its spec.

    For each file under that folder (anything but regular files and folders is refused), sorted
    by its path relative to it (`/`-separated,
    by code point), the line `"<path> <sha256 of its bytes>\\n"`; the hash is the sha256 of the
    lines. The same folder is in the `.mlmodelc` a device loads, so the Swift recorder
    (`ModelWeights.sha256`) measures the same value there: a results file says which weights
    ran, not only which the fixture expected. Constants small enough to sit in the program
    itself are not in these files.
    """
    package = read_package(root)
    folder = package.spec.parent / WEIGHTS
    lines = []
    if os.path.lexists(folder):
        _inside(package.spec.parent, WEIGHTS, package.root)  # no symlink on the way
        for f in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
            mode = os.lstat(f).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):  # a symlink, a FIFO, a device: a model holds files
                raise PackageError(f"{package.root.name}: {f.relative_to(package.root)} is not a regular file")
            lines.append(f"{f.relative_to(folder).as_posix()} {files.sha256(f, error=PackageError)}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()
