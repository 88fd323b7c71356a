"""An export folder as bytes, named by the sha256 of its manifest: what travels to the workers.

The manifest names every artifact's sha256, so its own hash names the whole export. A worker unpacks
it once into a folder of its own and checks it on arrival, as a reused export is checked here: the
manifest's bytes against the name, every artifact against the manifest, nothing else in the folder.
A worker never runs an export other than the one the client judges.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness import files
from harness.errors import HarnessError
from harness.export.manifest import MANIFEST, MAX_MANIFEST_BYTES, Manifest

#: One part of a shipped file's relative path.
_PART = re.compile(r"^[A-Za-z0-9._-][A-Za-z0-9 ._-]{0,199}$")


class ShippedError(HarnessError):
    """An export that arrived other than it left: its name, a file or the folder differs."""


@dataclass(frozen=True)
class Shipped:
    """An export's files (relative POSIX path -> bytes, the manifest among them) and their name."""

    key: str  # sha256 of manifest.json's bytes
    files: dict[str, bytes]

    @classmethod
    def pack(cls, folder: str | Path) -> Shipped:
        """The manifest and the files of every artifact it lists (nothing else in the folder travels)."""
        folder = Path(folder)
        manifest = Manifest.read(folder)
        out = {MANIFEST: files.read_bytes(folder / MANIFEST, limit=MAX_MANIFEST_BYTES)}
        for artifact in manifest.artifacts:
            path = folder / artifact.path
            for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
                if f.is_symlink():
                    raise ShippedError(f"{f} is a symlink; an export holds files")
                if f.is_file():
                    out[f.relative_to(folder).as_posix()] = f.read_bytes()
        return cls(hashlib.sha256(out[MANIFEST]).hexdigest(), out)

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())

    def unpack(self, into: str | Path | None = None) -> tuple[Path, Manifest]:
        """Written into a new folder (under `into`, else the temporary folder) and verified there:
        (folder, manifest), or ShippedError naming what differs."""
        manifest_bytes = self.files.get(MANIFEST, b"")
        got = hashlib.sha256(manifest_bytes).hexdigest()
        if got != self.key:
            raise ShippedError(f"export {self.key[:12]} arrived with a manifest of sha256 {got[:12]}")
        folder = Path(tempfile.mkdtemp(prefix=f"harness-export-{self.key[:12]}-", dir=into))
        for name, data in self.files.items():
            parts = PurePosixPath(name).parts
            if not parts or not all(_PART.match(p) and p not in (".", "..") for p in parts):
                raise ShippedError(f"export {self.key[:12]} holds a file named {name!r:.80}, outside its folder")
            path = folder.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as f:
                f.write(data)
        manifest = Manifest.read(folder)
        problems = manifest.verify(folder)
        listed = {MANIFEST, *(a.path for a in manifest.artifacts)}
        problems += [f"{p} is not in the manifest" for p in sorted(os.listdir(folder)) if p not in listed]
        if problems:
            raise ShippedError(f"export {self.key[:12]} arrived changed: {'; '.join(problems[:5])}")
        return folder, manifest
