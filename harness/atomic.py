"""Atomic file and folder writes: build under a temporary name beside the target, then rename.

A crash or an exception at any point leaves either the old target or the new one, never
a half-written one, and never anything that was not ours replaced: a device node, a
symlink, a user's file or a folder of theirs is refused with a one-line error.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.errors import UsageError


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symlink"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _parent(path: Path) -> None:
    """Create `path`'s parent folders, or say in one line why they cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"cannot write {path}: a part of its parent folder is a file, not a folder") from None
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror} ({path.parent})") from None


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace the regular file at `path` (or create it) with `data`, atomically."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"cannot write {path}: it exists and is {_kind(mode)}; name a regular file")
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        raise UsageError(f"cannot write {path}: a part of its parent folder is a file, not a folder") from None
    _parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror} ({path.parent})") from None
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise UsageError(f"cannot write {path}: {err.strerror}") from None
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


_held: dict[str, int] = {}


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike) -> Iterator[None]:
    """Exclusive lock on `path` among cooperating processes: `flock` on its parent folder.

    The parent, not a lock file: nothing is left behind, and the lock outlives every swap
    of `path`. Writers of siblings take turns too, a price worth no stray files. Re-entrant
    within a process, so a check-then-export sequence can hold it throughout.
    """
    path = Path(path).absolute()
    _parent(path)
    key = str(path.parent.resolve())
    if key in _held:
        yield
        return
    try:
        fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as err:
        raise UsageError(f"cannot lock {path}: {err.strerror} ({path.parent})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[key] = fd
        yield
    finally:
        _held.pop(key, None)
        os.close(fd)  # releases the lock


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rename_swap = 2
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), rename_swap)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # e.g. a filesystem without exchange: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


def _clean_leftovers(path: Path) -> None:
    """Stage and old folders that a killed writer left beside `path` (we hold its lock)."""
    for leftover in path.parent.glob(f".{path.name}.*"):
        if leftover.suffix in (".stage", ".old") and leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def check_replaceable(path: Path, marker: str | None) -> None:
    """Refuse to replace what is not ours: a non-folder, or a non-empty folder without `marker`."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise UsageError(f"cannot write {path}: a part of its parent folder is a file, not a folder") from None
    if not stat.S_ISDIR(mode):
        raise UsageError(f"{path} exists and is {_kind(mode)}, not an output folder; name a new or empty folder")
    if marker and any(path.iterdir()) and not (path / marker).is_file():
        raise UsageError(f"{path} is a folder with other content (no {marker}); refusing to replace it: "
                         "name a new or empty folder, or one this harness wrote")


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike, marker: str | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `path`, on failure it vanishes.

    The swap is one atomic exchange (`renameat2(RENAME_EXCHANGE)` on Linux, `renamex_np`
    on macOS), so `path` is never absent; elsewhere two renames. Writers of one folder
    take turns under `folder_lock`; an existing folder is replaced only if it is empty or
    holds `marker` (ours).
    """
    path = Path(path)
    check_replaceable(path, marker)
    with folder_lock(path):
        check_replaceable(path, marker)
        _clean_leftovers(path)
        stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".stage", dir=path.parent))
        stage.chmod(0o755)
        try:
            yield stage
            if path.exists() and _exchange(stage, path):
                shutil.rmtree(stage, ignore_errors=True)  # now holds the old folder
                return
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                os.rmdir(old)
                os.replace(path, old)
                os.replace(stage, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(stage, path)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
