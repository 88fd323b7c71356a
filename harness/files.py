"""Reading a file a user named: a regular file only, up to a size, and JSON only to a depth.

A path on a command line (or inside a folder a user hands over) can be anything: a FIFO,
whose `open` waits for a writer forever; a device (`/dev/zero` never ends); a symlink to
either; a regular file of gigabytes; JSON nested 100,000 deep, which overflows the parser's
stack. Every reader of user-supplied files goes through `read_bytes` or `read_json`, which
refuse all of these before reading a byte (or before recursing), each with one error naming
the file and what is wrong. The error class is the caller's, so a results file is refused
as a `ResultsError` and a package file as a `PackageError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from harness.errors import HarnessError, UsageError

#: Containers inside containers: the harness's own documents nest at most 7 deep (a comparison).
MAX_DEPTH = 32
_CHUNK = 1 << 24

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check(st: os.stat_result, path: Path, limit: int, error: type[HarnessError]) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path} is {_kind(st.st_mode)}, not a regular file: refusing to read it")
    if st.st_size > limit:
        raise error(f"{path} holds {st.st_size:,} bytes, more than the {limit:,} this file can need: "
                    "refusing to read it")


def _open(path: Path, limit: int, error: type[HarnessError]) -> tuple[int, os.stat_result]:
    """A descriptor of the regular file at `path` and its status, or `error`.

    Checked before opening (so a FIFO is never opened), and again on what was opened (so a
    path swapped in between is caught); opened non-blocking, so even a FIFO swapped in
    cannot block the `open`.
    """
    try:
        _check(os.stat(path), path, limit, error)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as err:  # a loop of symlinks, no permission, a name too long, a file for a folder
        raise error(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        st = os.fstat(fd)
        _check(st, path, limit, error)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def sha256(path: str | os.PathLike, *, error: type[HarnessError] = UsageError) -> str:
    """The sha256 of the regular file at `path`, read in chunks (any size)."""
    path = Path(path)
    fd, _ = _open(path, 1 << 62, error)
    digest = hashlib.sha256()
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
    except OSError as err:
        raise error(f"{path}: cannot read it ({err.strerror or err})") from None
    finally:
        os.close(fd)
    return digest.hexdigest()


def read_bytes(path: str | os.PathLike, *, limit: int, error: type[HarnessError] = UsageError) -> bytes:
    """The bytes of the regular file at `path` (a symlink to one is that file), at most `limit` of them."""
    path = Path(path)
    fd, st = _open(path, limit, error)
    try:
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            data = f.read(st.st_size + 1)
            if len(data) > st.st_size:  # larger than it said (procfs, or growing): read on, to the limit
                rest = [data]
                size = len(data)
                while size <= limit and (chunk := f.read(min(_CHUNK, limit + 1 - size))):
                    rest.append(chunk)
                    size += len(chunk)
                data = b"".join(rest)
    except OSError as err:
        raise error(f"{path}: cannot read it ({err.strerror or err})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{path} holds more than the {limit:,} bytes this file can need: refusing to read it")
    return data


def read_json(path: str | os.PathLike, *, limit: int, error: type[HarnessError] = UsageError,
              max_depth: int = MAX_DEPTH) -> object:
    """The JSON document in the regular file at `path` (see `read_bytes`), nested at most `max_depth` deep."""
    data = read_bytes(path, limit=limit, error=error)
    try:
        return _parse(data.decode("utf-8"), max_depth)
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text") from None
    except _TooDeep:
        raise error(f"{path} nests arrays and objects more than {max_depth} deep: not a file of this "
                    "harness") from None
    except ValueError as err:
        raise error(f"{path} is not JSON ({err})") from None


class _TooDeep(ValueError):
    pass


def _parse(text: str, max_depth: int) -> object:
    """`json.loads(text)`, refusing (`_TooDeep`) a document whose containers nest more than `max_depth` deep."""
    try:
        doc = json.loads(text)
    except RecursionError:  # deeper than the interpreter's stack: far deeper than max_depth
        raise _TooDeep from None
    pending = [(doc, 1)] if isinstance(doc, dict | list) else []  # iterative: no recursion to overflow
    while pending:
        value, depth = pending.pop()
        if depth > max_depth:
            raise _TooDeep
        children = value.values() if isinstance(value, dict) else value
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return doc
