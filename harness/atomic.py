"""Atomic file and folder writes: build under a temporary name beside the target, then rename.

A crash or an exception at any point leaves either the old target or the new one, never
a half-written one, and never anything that was not ours replaced: a device node, a
symlink, a user's file or a folder of theirs is refused with a one-line error.

What a killed writer leaves behind (a temporary file, a staging folder) has a name only this
module makes: a random part sealed with a keyed hash that it checks before removing anything.
The next writer of the same target removes such debris once it is provably abandoned (a file
when no process holds its lock any more; a folder under the parent's lock, which every stager
holds), and nothing else: a user's `.report.json.keep.tmp` or `.out.keep.old` stays.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import math
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import LockTimeout, UsageError

#: Why a non-empty folder is not ours to replace (None: it is); e.g. "holds no manifest.json".
Ownership = Callable[[Path], str | None]

#: How long a writer waits for another process's lock on a folder before it gives up, in seconds.
LOCK_TIMEOUT = 600.0
#: The environment variable that sets it (a number of seconds; 0 gives up at once).
LOCK_TIMEOUT_VARIABLE = "HARNESS_LOCK_TIMEOUT"
#: A wait this long is said on stderr (shorter ones are writers taking turns).
_SAY_AFTER = 1.0


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symlink"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "of an unknown kind"


def named(path: str | os.PathLike) -> Path:
    """`path` as a Path, refusing what names no file: an empty string (it would mean the current
    folder) or one holding a NUL byte (no system call takes it)."""
    text = os.fspath(path)
    shown = text if isinstance(text, str) else os.fsdecode(text)
    if not shown.strip():
        raise UsageError("an empty path names no file or folder")
    if "\0" in shown:
        raise UsageError(f"cannot write {shown!r}: a path cannot hold a NUL byte")
    return Path(shown)


def _parent_is_a_file(path: Path) -> UsageError:
    return UsageError(f"cannot write {path}: a part of its parent folder is a file, not a folder")


# -- names of our own temporary things ----------------------------------------------------------------

_KEY = b"trendsplit-harness atomic writer"
_NONCE = re.compile(r"[0-9a-f]{12}")


def _seal(target: str, kind: str, nonce: str) -> str:
    return hashlib.blake2s(f"{kind}/{target}/{nonce}".encode(), key=_KEY, digest_size=4).hexdigest()


def _fresh_name(target: str, kind: str) -> str:
    """`.<target>.<nonce>-<seal>.<kind>`: a name that `_made_here` recognises and a user's does not."""
    nonce = secrets.token_hex(6)
    return f".{target}.{nonce}-{_seal(target, kind, nonce)}.{kind}"


def _made_here(target: str, name: str, kind: str) -> bool:
    """Whether `name` is one `_fresh_name(target, kind)` made: the seal must match, not only the shape."""
    prefix, suffix = f".{target}.", f".{kind}"
    if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(prefix) + len(suffix):
        return False
    nonce, _, seal = name[len(prefix):-len(suffix)].partition("-")
    return bool(_NONCE.fullmatch(nonce)) and seal == _seal(target, kind, nonce)


def _debris(folder: Path, target: str, kind: str) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if _made_here(target, e.name, kind)]
    except OSError:
        return []


def _remove_if_abandoned(path: Path) -> None:
    """Remove our temporary file at `path` if no live process holds its lock (its writer died)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        seen = os.fstat(fd)
        if not stat.S_ISREG(seen.st_mode):
            return
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while its writer lives
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) == (seen.st_dev, seen.st_ino):
            os.unlink(path)
    except OSError:  # held, gone, or a filesystem without locks: never guess
        pass
    finally:
        os.close(fd)


# -- what may be written ------------------------------------------------------------------------------

def _existing_folder(folder: Path, target: Path) -> Path:
    """The nearest folder at or above `folder` that exists (following symlinks above the target)."""
    for p in (folder, *folder.parents):
        try:
            mode = os.lstat(p).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            raise UsageError(f"cannot write {target}: {err.strerror} ({p})") from None
        if stat.S_ISLNK(mode):
            try:
                mode = os.stat(p).st_mode
            except OSError:
                raise UsageError(f"cannot write {target}: {p} is a symlink to nothing") from None
        if not stat.S_ISDIR(mode):
            raise _parent_is_a_file(target)
        return p
    return Path(".")


def accepts_new_files(folder: str | os.PathLike, target: str | os.PathLike | None = None) -> None:
    """Refuse, in one line naming `target` (default `folder`), a `folder` that cannot be created or
    take new files (read-only, /proc, under a file).

    Only trying says so for every case (root bypasses modes; /proc takes nothing): an empty file
    with one of our own names is made and removed at once in the nearest existing folder; one
    that a process killed in between left behind is removed by the next probe of that name.
    """
    folder = Path(folder)
    target = Path(target) if target is not None else folder
    where = _existing_folder(folder, target)
    name = target.name or "probe"
    for leftover in _debris(where, name, "probe"):  # a probing process killed before its unlink
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(leftover).st_mode):
                os.unlink(leftover)  # harmless even to a live prober: its create has happened
    probe = where / _fresh_name(name, "probe")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except OSError as err:
        raise UsageError(f"cannot write {target}: {err.strerror} ({where})") from None
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _regular_or_nothing(path: str | os.PathLike) -> Path:
    """`path` as a Path, refused (UsageError) when something other than a regular file stands there."""
    path = named(path)
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"cannot write {path}: it exists and is {_kind(mode)}, not a regular file")
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        raise _parent_is_a_file(path) from None
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    return path


def check_file(path: str | os.PathLike) -> Path:
    """An output file that `write_bytes` can write: a regular file or nothing yet, in a folder
    that exists or can be made, and takes new files. Writes nothing that stays."""
    path = _regular_or_nothing(path)
    accepts_new_files(path.parent, path)
    return path


def _check_folder_kind(path: Path, what: str) -> bool:
    """True when `path` exists as a real folder; refuses a symlink (even to a folder) and a non-folder."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise _parent_is_a_file(path) from None
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    if stat.S_ISLNK(mode):
        raise UsageError(f"{path} is a symlink, not {what}: name the folder itself, not a link to it")
    if not stat.S_ISDIR(mode):
        raise UsageError(f"{path} exists and is {_kind(mode)}, not {what}; name a new or empty folder")
    return True


def check_folder(path: str | os.PathLike) -> Path:
    """A folder that files can be written into: a real folder (not a symlink to one) or nothing yet,
    that exists or can be made, and takes new files."""
    path = named(path)
    _check_folder_kind(path, "an output folder")
    accepts_new_files(path, path)
    return path


def check_replaceable(path: str | os.PathLike, ours: Ownership | None) -> Path:
    """A folder that `staged_dir` may replace whole: nothing yet, an empty folder, or one that `ours`
    claims (any folder when `ours` is None). A symlink, even to such a folder, is not."""
    path = named(path)
    if not _check_folder_kind(path, "an output folder") or ours is None:
        return path
    try:
        empty = not any(path.iterdir())
    except OSError as err:
        raise UsageError(f"cannot replace {path}: {err.strerror}") from None
    why = None if empty else ours(path)
    if why:
        raise UsageError(f"{path} is a folder with other content ({why}); refusing to replace it: "
                         "name a new or empty folder, or one this harness wrote")
    return path


# -- files ------------------------------------------------------------------------------------------------

def _parent(path: Path) -> None:
    """Create `path`'s parent folders, or say in one line why they cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise _parent_is_a_file(path) from None
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror} ({path.parent})") from None


def _locked_temp(path: Path) -> tuple[int, Path]:
    """A new temporary file beside `path`, open and locked for as long as this process writes it."""
    while True:
        tmp = path.parent / _fresh_name(path.name, "tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as err:
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                os.close(fd)
                raise
            # no locks on this filesystem: no cleaner can take it either, so it is never removed
        if os.fstat(fd).st_nlink:
            return fd, tmp
        os.close(fd)  # a cleaner removed it between its creation and our lock: take another name


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace the regular file at `path` (or create it) with `data`, atomically.

    The temporary file stays locked until it is renamed into place, so that the debris of a
    writer killed part way (SIGKILL, a power cut) is told from a live writer's file and removed.
    """
    path = _regular_or_nothing(path)
    _parent(path)
    for leftover in _debris(path.parent, path.name, "tmp"):
        _remove_if_abandoned(leftover)
    try:
        fd, tmp = _locked_temp(path)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror} ({path.parent})") from None
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:  # closing releases the lock: only after the rename
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


# -- the folder lock ------------------------------------------------------------------------------------

def lock_timeout() -> float:
    """Seconds to wait for another process's lock: `HARNESS_LOCK_TIMEOUT`, else `LOCK_TIMEOUT`."""
    text = os.environ.get(LOCK_TIMEOUT_VARIABLE, "").strip(" \t\n\r\f\v")  # str.strip() also takes \x1c-\x1f
    if not text:
        return LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 7 * 86_400:
        raise UsageError(f"{LOCK_TIMEOUT_VARIABLE} must be a number of seconds from 0 to 604800, got {text!r}")
    return value


def lock_holder(folder_fd: int) -> int | None:
    """The pid holding an `flock` on the open folder, where the system says (Linux's /proc/locks)."""
    seen = os.fstat(folder_fd)
    key = f"{os.major(seen.st_dev):02x}:{os.minor(seen.st_dev):02x}:{seen.st_ino}"
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():  # "1: FLOCK  ADVISORY  WRITE 4120 fe:00:16221985 0 EOF"
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key and fields[4].isdigit():
            return int(fields[4]) or None  # 0: a process in another pid namespace
    return None


def _wait_for(fd: int, folder: Path, timeout: float) -> None:
    """Take the lock on `fd`, waiting at most `timeout` seconds; said on stderr when it takes a while."""
    start, pause, said = time.monotonic(), 0.001, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - start
        if waited >= timeout or (not said and waited >= min(_SAY_AFTER, timeout)):
            holder = lock_holder(fd)
            by = f"process {holder}" if holder else "another process"
            if waited >= timeout:
                raise LockTimeout(f"gave up after {waited:.0f} s: {by} holds the lock on {folder} (it is writing "
                                  f"there); wait for it or stop it, or set {LOCK_TIMEOUT_VARIABLE} (seconds) to "
                                  "wait longer", folder=folder, pid=holder)
            print(f"[harness] waiting for {folder}: {by} is writing there (giving up after {timeout:g} s; "
                  f"{LOCK_TIMEOUT_VARIABLE} sets it)", file=sys.stderr, flush=True)
            said = True
        time.sleep(min(pause, max(0.0, timeout - waited)))
        pause = min(pause * 2, 0.1)


_held: dict[str, int] = {}


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike) -> Iterator[None]:
    """Exclusive lock on `path` among cooperating processes: `flock` on its parent folder.

    The parent, not a lock file: nothing is left behind, and the lock outlives every swap
    of `path`. Writers of siblings take turns too, a price worth no stray files. Re-entrant
    within a process, so a check-then-export sequence can hold it throughout. A lock held
    elsewhere is waited for at most `lock_timeout()` seconds, then `LockTimeout` names its holder.
    """
    path = Path(path).absolute()
    timeout = lock_timeout()
    _parent(path)
    key = str(path.parent.resolve())
    if key in _held:
        yield
        return
    try:
        fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError as err:
        raise UsageError(f"cannot lock {path}: {err.strerror} ({path.parent})") from None
    try:
        _wait_for(fd, path.parent, timeout)
        _held[key] = fd
        yield
    finally:
        _held.pop(key, None)
        os.close(fd)  # releases the lock


# -- folders ---------------------------------------------------------------------------------------------

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
    """Stage and old folders that a killed writer of `path` left (we hold the parent's lock, which
    every stager holds while its stage exists: any of ours still here is abandoned)."""
    for kind in ("stage", "old"):
        for leftover in _debris(path.parent, path.name, kind):
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.lstat(leftover).st_mode):
                    shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike, ours: Ownership | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `path`, on failure it vanishes.

    The swap is one atomic exchange (`renameat2(RENAME_EXCHANGE)` on Linux, `renamex_np`
    on macOS), so `path` is never absent; elsewhere two renames. Writers of one folder
    take turns under `folder_lock`; an existing folder is replaced only if it is empty or
    `ours` claims it (`check_replaceable`).
    """
    path = named(path)
    check_replaceable(path, ours)
    accepts_new_files(path.parent, path)  # the stage goes beside it
    with folder_lock(path):
        check_replaceable(path, ours)
        _clean_leftovers(path)
        stage = path.parent / _fresh_name(path.name, "stage")
        try:
            stage.mkdir()
            stage.chmod(0o755)
        except OSError as err:
            raise UsageError(f"cannot write {path}: {err.strerror} ({path.parent})") from None
        try:
            yield stage
            if path.exists() and _exchange(stage, path):
                shutil.rmtree(stage, ignore_errors=True)  # now holds the old folder
                return
            if path.exists():
                old = path.parent / _fresh_name(path.name, "old")
                os.replace(path, old)
                os.replace(stage, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(stage, path)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
