"""The app's Swift encoder, run for real: a persistent `trendsplit-encode` process.

Builds the SwiftPM package in `ios_bridge/` and speaks its framed protocol: JSON lines
(one case at a time, exact binary64 bit patterns in, float32 bit patterns or an error
code out) and binary batches for volume.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.encoding import L
from harness.errors import HarnessError

PACKAGE = Path(__file__).resolve().parent.parent / "ios_bridge"
PRODUCT = "trendsplit-encode"
BAD_REQUEST = "bad_request"


class SwiftUnavailable(HarnessError):
    """No Swift toolchain, or the package does not build."""


def build(package: Path = PACKAGE, configuration: str = "release") -> Path:
    """`swift build` the encoder executable; return its path."""
    swift = shutil.which("swift")
    if swift is None:
        raise SwiftUnavailable("no `swift` on PATH: install a Swift 5.9+ toolchain")
    base = [swift, "build", "--package-path", str(package), "-c", configuration]
    proc = subprocess.run([*base, "--product", PRODUCT], capture_output=True, text=True)
    if proc.returncode:
        raise SwiftUnavailable(f"swift build failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    bin_dir = subprocess.run([*base, "--show-bin-path"], capture_output=True, text=True,
                             check=True).stdout.strip()
    return Path(bin_dir) / PRODUCT


@dataclass(frozen=True)
class SwiftResult:
    """One case's answer: float32 [2, L] bits, or the error code."""

    code: str
    bits: np.ndarray | None  # uint32 [2, L]
    message: str = ""


def _hex(values: np.ndarray) -> list[str]:
    return [f"{b:016x}" for b in np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)]


class SwiftEncoder:
    """A running `trendsplit-encode`; use as a context manager."""

    def __init__(self, binary: Path):
        self.binary = Path(binary)
        self.proc = subprocess.Popen([str(self.binary)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._next_id = 0
        self.codes = tuple(self._ask({"op": "codes"})["codes"])

    def __enter__(self) -> SwiftEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def _send(self, line: str, payload: bytes = b"") -> None:
        try:
            self.proc.stdin.write(line.encode() + b"\n" + payload)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._died() from None

    def _died(self) -> HarnessError:
        err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.stderr else ""
        return HarnessError(f"{PRODUCT} exited with {self.proc.wait()}: {err}")

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise self._died()
        return json.loads(line)

    def _ask(self, request: dict) -> dict:
        self._send(json.dumps(request))
        return self._reply()

    def request_raw(self, line: str) -> dict:
        """Send one raw line (for protocol tests) and return the parsed reply."""
        self._send(line)
        return self._reply()

    def encode(self, points: np.ndarray) -> SwiftResult:
        """Encode one [n, 2] float64 series exactly (bit patterns on the wire)."""
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self._next_id += 1
        reply = self._ask({"id": self._next_id, "x": _hex(xy[:, 0]), "y": _hex(xy[:, 1])})
        if reply.get("id") != self._next_id:
            raise HarnessError(f"{PRODUCT} answered request {reply.get('id')}, not {self._next_id}")
        if not reply["ok"]:
            return SwiftResult(reply["code"], None, reply.get("message", ""))
        return SwiftResult("", np.array(reply["bits"], dtype=np.uint32).reshape(2, L))

    def encode_padded(self, xy: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Binary batch: float64 [B, M, 2] and B lengths -> (codes object [B], bits uint32 [B, 2, L])."""
        xy = np.ascontiguousarray(xy, dtype="<f8")
        lengths = np.ascontiguousarray(lengths, dtype="<i4")
        count, width = xy.shape[:2]
        self._send(json.dumps({"op": "batch", "count": count, "width": width}),
                   lengths.tobytes() + xy.tobytes())
        header = self._reply()
        if not header.get("ok"):
            raise HarnessError(f"{PRODUCT} refused the batch: {header}")
        body = self.proc.stdout.read(count + count * 2 * L * 4)
        if len(body) != count + count * 2 * L * 4:
            raise self._died()
        table = np.array(["", *self.codes, BAD_REQUEST], dtype=object)
        codes = table[np.frombuffer(body[:count], dtype=np.uint8)]
        bits = np.frombuffer(body[count:], dtype="<u4").reshape(count, 2, L)
        return codes, bits
