"""The app's Swift encoder, run for real: a persistent `trendsplit-encode` process.

Builds the SwiftPM package in `ios_bridge/` and speaks its framed protocol: JSON lines
(one case at a time, exact binary64 bit patterns in, float32 bit patterns or an error
code out) and binary batches for volume.

The process is another program on the end of two pipes, so nothing it does may hang or
crash the harness: every read has a deadline (selectors on the pipe, never a blocking
`readline`), every reply is checked (JSON, id, sizes), and each way it can fail raises a
`SwiftBridgeError` naming what was awaited. After such an error the stream's framing is
unknown, so the process is killed. Batches are checked against the server's caps before
sending: a refused header would leave its payload to be read as request lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.toolkit import HarnessError, UsageError
from trendsplit.encoding import ENCODING_VERSION, L, channels_of

PACKAGE = Path(__file__).resolve().parent.parent / "ios_bridge"
PRODUCT = "trendsplit-encode"
BAD_REQUEST = "bad_request"
#: Seconds to wait for any one reply (a 20,000-series batch takes about 0.1 s).
DEFAULT_TIMEOUT = 30.0
#: Longest reply line accepted: an encode reply is about 2 KB, a codes reply a few hundred bytes.
MAX_REPLY_LINE = 1 << 16
#: Seconds `swift build` may take (a cold release build takes about a minute on 2 cores); the
#: environment variable overrides it, `--build-timeout` overrides both.
BUILD_TIMEOUT = 900.0
BUILD_TIMEOUT_VARIABLE = "TRENDSPLIT_SWIFT_BUILD_TIMEOUT"
UINT32_MAX = 0xFFFF_FFFF


@dataclass(frozen=True)
class BatchLimits:
    """The server's caps per request (Swift: `WireLimits.standard`; the `codes` reply reports them).

    Sized from the harness's use: `trendsplit/differential.py` sends 20,000 series of width 150.
    """

    count: int = 100_000  # series per batch
    width: int = 4_096  # padded points per series
    cells: int = 1 << 24  # count * width
    line: int = 1 << 20  # bytes in one request line


LIMITS = BatchLimits()


class SwiftBridgeError(HarnessError):
    """The encoder process cannot be used: it did not start, stopped answering, died or spoke garbage."""


class SwiftUnavailable(SwiftBridgeError):
    """No Swift toolchain, the package does not build, or the binary cannot be started."""


class SwiftTimeout(SwiftBridgeError):
    """No complete reply before the deadline; the process has been killed."""


class SwiftProcessDied(SwiftBridgeError):
    """The process exited (code or signal and its stderr tail in the message)."""


class SwiftProtocolError(SwiftBridgeError):
    """A reply that breaks the protocol: not JSON, the wrong id, the wrong size, a refused batch."""


class BadRequest(HarnessError, ValueError):
    """A request the client will not send: lengths, shape or size outside the wire protocol's rules."""


def build_timeout(seconds: float | None = None) -> float:
    """The bound on `swift build`: `seconds`, else $TRENDSPLIT_SWIFT_BUILD_TIMEOUT, else `BUILD_TIMEOUT`."""
    if seconds is None:
        text = os.environ.get(BUILD_TIMEOUT_VARIABLE)
        if not text:
            return BUILD_TIMEOUT
        try:
            seconds = float(text)
        except ValueError:
            raise UsageError(f"{BUILD_TIMEOUT_VARIABLE} must be a number of seconds, got {text!r}") from None
    if not 0 < seconds < float("inf"):
        raise UsageError(f"the swift build timeout must be a positive number of seconds, got {seconds!r}")
    return seconds


def _bounded(command: list[str], timeout: float) -> tuple[int, str, str]:
    """Run `command` to its end or `timeout`: (exit code, stdout, stderr). On the timeout the whole
    process group is killed (the compilers `swift build` starts too) and `SwiftUnavailable` says so.
    Output goes to files, not pipes, so a child that outlives the kill cannot keep us waiting for EOF."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as error:
            raise SwiftUnavailable(f"cannot run {command[0]}: {error.strerror or error}") from None
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SwiftUnavailable(f"swift build did not finish within {timeout:g} s and was stopped; allow "
                                   f"longer with --build-timeout or {BUILD_TIMEOUT_VARIABLE}") from None
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def build(package: Path = PACKAGE, configuration: str = "release", timeout: float | None = None) -> Path:
    """`swift build` the encoder executable, within `timeout` seconds (`build_timeout`); return its path."""
    seconds = build_timeout(timeout)
    swift = shutil.which("swift")
    if swift is None:
        raise SwiftUnavailable("no `swift` on PATH: install a Swift 5.9+ toolchain")
    base = [swift, "build", "--package-path", str(package), "-c", configuration]
    deadline = time.monotonic() + seconds
    code, out, err = _bounded([*base, "--product", PRODUCT], seconds)
    if code:
        raise SwiftUnavailable(f"swift build failed:\n{out[-3000:]}{err[-3000:]}")
    code, out, err = _bounded([*base, "--show-bin-path"], max(deadline - time.monotonic(), 1.0))
    if code or not out.strip():
        raise SwiftUnavailable(f"swift build --show-bin-path failed:\n{out[-3000:]}{err[-3000:]}")
    return Path(out.strip().splitlines()[-1]) / PRODUCT


@dataclass(frozen=True)
class SwiftResult:
    """One case's answer: float32 [C, L] bits, or the error code."""

    code: str
    bits: np.ndarray | None  # uint32 [C, L]
    message: str = ""


def _hex(values: np.ndarray) -> list[str]:
    return [f"{b:016x}" for b in np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)]


def _excerpt(data: bytes) -> str:
    return repr(data[:80]) + ("..." if len(data) > 80 else "")


def _shown(value: object) -> str:
    """A value from a reply, for a message: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _whole(value: object, low: int, high: int) -> bool:
    """`value` is a JSON integer (not a bool, not 2.0) in low..high."""
    return type(value) is int and low <= value <= high


def check_lengths(lengths, count: int, width: int) -> np.ndarray:
    """Lengths as the wire's little-endian int32, or `BadRequest`: one integer per series, each in 0..width."""
    arr = np.asarray(lengths)
    if arr.shape != (count,):
        raise BadRequest(f"lengths must have one entry per series ({count}), got shape {arr.shape}")
    if arr.dtype == object and all(type(v) is int for v in arr.flat):
        values = arr.tolist()  # Python ints beyond int64
        bad = next((k for k, v in enumerate(values) if not 0 <= v <= width), None)
    elif arr.dtype.kind in "iu":
        outside = np.flatnonzero((arr < 0) | (arr > width))
        bad = int(outside[0]) if len(outside) else None
    else:
        raise BadRequest(f"lengths must be integers, got dtype {arr.dtype}")
    if bad is not None:
        raise BadRequest(f"lengths[{bad}] = {arr[bad]} is outside 0..{width} (the batch width)")
    return np.ascontiguousarray(arr, dtype="<i4")


class SwiftEncoder:
    """A running `trendsplit-encode`; use as a context manager. `timeout` bounds every reply (seconds)."""

    def __init__(self, binary: Path, timeout: float = DEFAULT_TIMEOUT):
        if not timeout > 0:
            raise UsageError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.binary = Path(binary)
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the process; close() closes it
        try:
            self.proc = subprocess.Popen([str(self.binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr)
        except OSError as err:
            self._stderr.close()
            raise SwiftUnavailable(f"cannot start {self.binary}: {err.strerror or err}") from None
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._buffer = bytearray()
        self._failure: SwiftBridgeError | None = None
        self._next_id = 0
        try:
            reply = self._ask({"op": "codes"}, '{"op": "codes"}')
            codes = reply.get("codes")
            if (reply["ok"] is not True or not isinstance(codes, list) or not codes
                    or not all(isinstance(c, str) for c in codes) or len(set(codes)) != len(codes)):
                raise self._fail(SwiftProtocolError(f"{PRODUCT}'s codes reply has no list of distinct codes: "
                                                    f"{_shown(reply)}"))
            self.codes = tuple(codes)
            self.limits = self._limits(reply.get("limits"))
            self.versions = self._versions(reply.get("versions", [1]))  # a server from before v2 speaks v1 only
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> SwiftEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        """Close stdin so the server ends; kill it if it has not within a few seconds."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=min(self.timeout, 5.0))
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
            with contextlib.suppress(OSError):
                stream.close()

    def _limits(self, reported) -> BatchLimits:
        if reported is None:  # a server from before the caps were reported
            return LIMITS
        keys = ("count", "width", "cells", "line")
        if not isinstance(reported, dict) or not all(_whole(reported.get(k), 1, 2**62) for k in keys):
            raise self._fail(SwiftProtocolError(f"{PRODUCT} reported malformed limits: "
                                                f"{_shown(reported)}"))
        return BatchLimits(**{k: reported[k] for k in keys})

    def _versions(self, reported) -> tuple[int, ...]:
        if not isinstance(reported, list) or not reported or not all(_whole(v, 1, 2**31) for v in reported):
            raise self._fail(SwiftProtocolError(f"{PRODUCT} reported malformed encoding versions: "
                                                f"{_shown(reported)}"))
        return tuple(reported)

    # -- process and pipes -------------------------------------------------------------------

    def _kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _fail(self, error: SwiftBridgeError) -> SwiftBridgeError:
        """Kill the process (the stream's framing is lost) and remember why, for later calls."""
        self._kill()
        self._failure = self._failure or error
        return error

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, self._stderr.tell() - 2000))
            return self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def _died(self, what: str, closed: str = "output") -> SwiftBridgeError:
        """The error for a closed pipe: how the process ended, or that it closed `closed` and lives on."""
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return self._fail(SwiftProtocolError(f"{PRODUCT} closed its {closed} while answering {what}"))
        if code < 0:
            try:
                how = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        tail = self._stderr_tail()
        return self._fail(SwiftProcessDied(f"{PRODUCT} {how} while answering {what}"
                                           + (f"; stderr ends:\n{tail}" if tail else "; no stderr")))

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise SwiftBridgeError(f"{PRODUCT} was stopped after an earlier error: {self._failure}")
        if self.proc.poll() is not None:
            raise self._died("nothing (it had already stopped)")

    def _wait(self, deadline: float, what: str, write: memoryview | None = None) -> memoryview | None:
        """Wait until stdout is readable (buffering what arrives) or stdin takes some of `write`."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._fail(SwiftTimeout(f"{PRODUCT} did not answer {what} within {self.timeout:g} s "
                                          f"(pid {self.proc.pid}, now killed)"))
        with selectors.DefaultSelector() as sel:
            sel.register(self._out, selectors.EVENT_READ)
            if write is not None and len(write):
                sel.register(self._in, selectors.EVENT_WRITE)
            events = sel.select(remaining)
        for key, _ in events:
            if key.fd == self._out:
                chunk = os.read(self._out, 1 << 20)
                if not chunk:
                    raise self._died(what)
                self._buffer += chunk
            else:
                try:
                    write = write[os.write(self._in, write):]
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    raise self._died(what, closed="input") from None
        return write

    def _send(self, data: bytes, deadline: float, what: str) -> None:
        """Write all of `data`, reading replies meanwhile so neither side blocks on a full pipe."""
        self._check_usable()
        rest: memoryview | None = memoryview(data)
        while rest is not None and len(rest):
            rest = self._wait(deadline, what, rest)

    def _read_line(self, deadline: float, what: str) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_REPLY_LINE:
                raise self._fail(SwiftProtocolError(
                    f"{PRODUCT} answered {what} with a line over {MAX_REPLY_LINE} bytes: "
                    f"{_excerpt(bytes(self._buffer))}"))
            self._wait(deadline, what)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def _read_exactly(self, n: int, deadline: float, what: str) -> bytes:
        while len(self._buffer) < n:
            self._wait(deadline, what)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _reply(self, deadline: float, what: str, expect_id=None) -> dict:
        line = self._read_line(deadline, what)
        try:
            reply = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._fail(SwiftProtocolError(f"{PRODUCT} answered {what} with a line that is not JSON: "
                                                f"{_excerpt(line)}")) from None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise self._fail(SwiftProtocolError(f"{PRODUCT} answered {what} with {_excerpt(line)}, "
                                                "not an object with a boolean ok"))
        if expect_id is not None and not (type(reply.get("id")) is int and reply["id"] == expect_id):
            raise self._fail(SwiftProtocolError(f"{PRODUCT} answered request {_shown(reply.get('id'))} "
                                                f"when {what} was id {expect_id}"))
        return reply

    def _ask(self, request: dict, what: str) -> dict:
        self._next_id += 1
        request = {"id": self._next_id, **request}
        deadline = time.monotonic() + self.timeout
        self._send(json.dumps(request).encode() + b"\n", deadline, what)
        return self._reply(deadline, what, expect_id=self._next_id)

    # -- requests ------------------------------------------------------------------------------

    def request_raw(self, line: str) -> dict:
        """Send one raw line (for protocol tests) and return the parsed reply."""
        deadline = time.monotonic() + self.timeout
        what = repr(line[:60])
        self._send(line.encode() + b"\n", deadline, what)
        return self._reply(deadline, what)

    def _channels(self, version: int) -> int:
        """The version's channel count, or `BadRequest` when this server does not speak it."""
        width = channels_of(version)
        if version not in self.versions:
            raise BadRequest(f"{PRODUCT} speaks encoding versions {list(self.versions)}, not {version}")
        return width

    def encode(self, points: np.ndarray, version: int = ENCODING_VERSION) -> SwiftResult:
        """Encode one [n, 2] float64 series exactly (bit patterns on the wire) with encoding `version`."""
        width = self._channels(version)
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        request = {"x": _hex(xy[:, 0]), "y": _hex(xy[:, 1])}
        if version != 1:  # v1 requests carry no version, as they did before v2
            request["version"] = version
        if 38 * len(xy) + 64 > self.limits.line:  # 2 x 19 bytes per point in hex
            raise BadRequest(f"{len(xy)} points make a request line over the encoder's cap of "
                             f"{self.limits.line} bytes (the encoding takes at most {L})")
        what = f"the encoding of {len(xy)} points"
        reply = self._ask(request, what)
        if not reply["ok"]:
            code, message = reply.get("code"), reply.get("message", "")
            if code not in (*self.codes, BAD_REQUEST) or not isinstance(message, str):
                raise self._fail(SwiftProtocolError(
                    f"{PRODUCT} refused {what} with code {_shown(code)} and message "
                    f"{_shown(message)}: not one of its codes and a string"))
            return SwiftResult(code, None, message)
        bits = reply.get("bits")
        if not isinstance(bits, list) or len(bits) != width * L:
            sent = len(bits) if isinstance(bits, list) else "no list of"
            raise self._fail(SwiftProtocolError(f"{PRODUCT} sent {sent} bits for an encoding v{version}, "
                                                f"not {width * L}"))
        bad = next((k for k, b in enumerate(bits) if not _whole(b, 0, UINT32_MAX)), None)
        if bad is not None:
            raise self._fail(SwiftProtocolError(f"{PRODUCT} sent bits[{bad}] = {_shown(bits[bad])} "
                                                f"for {what}: bits are integers in 0..{UINT32_MAX}"))
        return SwiftResult("", np.array(bits, dtype=np.uint32).reshape(width, L))

    def check_batch(self, xy, lengths) -> tuple[np.ndarray, np.ndarray]:
        """xy as little-endian float64 [B, M, 2] and lengths as int32, or `BadRequest` naming the rule broken."""
        try:
            shape = np.shape(xy)
        except ValueError as err:  # ragged nested lists
            raise BadRequest(f"xy must be float64 numbers [B, M, 2]: {err}") from None
        if len(shape) != 3 or shape[2] != 2:
            raise BadRequest(f"xy must have shape [B, M, 2], got {shape}")
        count, width = shape[:2]
        caps = self.limits  # checked before converting: an oversized batch is refused, not copied
        if count > caps.count or width > caps.width or count * width > caps.cells:
            raise BadRequest(f"a batch of {count} series of width {width} exceeds the encoder's caps "
                             f"({caps.count} series, width {caps.width}, {caps.cells} points)")
        wire_lengths = check_lengths(lengths, count, width)
        try:
            return np.ascontiguousarray(xy, dtype="<f8"), wire_lengths
        except (TypeError, ValueError) as err:
            raise BadRequest(f"xy must be float64 numbers [B, M, 2]: {err}") from None

    def encode_padded(self, xy: np.ndarray, lengths: np.ndarray,
                      version: int = ENCODING_VERSION) -> tuple[np.ndarray, np.ndarray]:
        """Binary batch: float64 [B, M, 2] and B lengths -> (codes object [B], bits uint32 [B, C, L])."""
        channels = self._channels(version)
        xy, wire_lengths = self.check_batch(xy, lengths)
        count, width = xy.shape[:2]
        self._next_id += 1
        ident = self._next_id
        what = f"the batch of {count} series"
        deadline = time.monotonic() + self.timeout
        request = {"id": ident, "op": "batch", "count": count, "width": width}
        if version != 1:
            request["version"] = version
        header = json.dumps(request).encode()
        self._send(header + b"\n" + wire_lengths.tobytes() + xy.tobytes(), deadline, what)
        reply = self._reply(deadline, what, expect_id=ident)
        if (reply["ok"] is not True or not _whole(reply.get("count"), count, count)
                or not _whole(reply.get("channels", 2), channels, channels)
                or not _whole(reply.get("version", version), version, version)):
            raise self._fail(SwiftProtocolError(f"{PRODUCT} refused {what} (encoding v{version}, "
                                                f"{channels} channels): {_shown(reply)}"))
        body = self._read_exactly(count + count * channels * L * 4, deadline, what)
        raw = np.frombuffer(body[:count], dtype=np.uint8)
        table = np.array(["", *self.codes, BAD_REQUEST], dtype=object)
        if raw.size and raw.max() >= len(table):
            raise self._fail(SwiftProtocolError(f"{PRODUCT} sent code byte {raw.max()} for {what}; "
                                                f"codes go up to {len(table) - 1}"))
        bits = np.frombuffer(body[count:], dtype="<u4").reshape(count, channels, L)
        return table[raw], bits
