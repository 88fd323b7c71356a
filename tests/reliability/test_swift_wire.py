"""The real `trendsplit-encode` against hostile bytes: every request gets a well-formed reply, memory stays bounded.

The attacks found by hand come first, one test each; then a Hypothesis fuzzer sends whole
byte streams (valid frames with mutated headers, truncated payloads, random bytes, huge
numbers, deep nesting, long lines) to a fresh process per stream and checks every reply, the
clean exit at end of input, and the process's peak RSS (the kernel's high-water mark, VmHWM).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings, target
from hypothesis import strategies as st

from trendsplit.encoding import L
from trendsplit.errors import ERROR_CODES
from trendsplit.swift_encoder import LIMITS, SwiftEncoder

pytestmark = pytest.mark.swift

MIB = 1 << 20
#: The largest reply the caps allow is LIMITS.count * 801 bytes (80 MB), held once; the runtime
#: takes about 17 MB and a request line at most LIMITS.line. Before the caps, one header took 16 GB.
PEAK_RSS_BOUND = 64 * MIB + LIMITS.count * (1 + 2 * L * 4) + 2 * LIMITS.line
#: An encode reply is about 2.2 KB; an error line quotes at most ~80 characters of the request.
MAX_REPLY_LINE = 4096
REPLY_CODES = (*ERROR_CODES, "bad_request")


def vm_hwm(pid: int) -> int:
    """Peak resident set size of a running process, in bytes (VmHWM in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


@pytest.fixture
def server(swift_binary):
    with SwiftEncoder(swift_binary, timeout=10.0) as encoder:
        yield encoder


def assert_alive(encoder: SwiftEncoder) -> None:
    reply = encoder.request_raw('{"op": "codes"}')
    assert reply["ok"] is True and tuple(reply["codes"]) == ERROR_CODES


def assert_bad_request(reply: dict) -> None:
    assert reply["ok"] is False and reply["code"] == "bad_request", reply
    assert len(reply["message"]) < 200, reply["message"][:300]


# -- the attacks found by hand ------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "width"), [
    (1, 576_460_752_303_423_488),  # 2^59: trapped on overflow (SIGILL)
    (2**62, 1), (2**63 - 1, 2**63 - 1), (2**32, 2**28),  # trapped
    (20_000_000, 0),  # aborted on a 16 GB allocation once the payload arrived
    (268_435_455, 0),  # took 1 GiB before reading any payload
    (LIMITS.count + 1, 1), (1, LIMITS.width + 1), (LIMITS.cells // LIMITS.width + 1, LIMITS.width),
])
def test_batch_headers_over_the_caps_get_bad_request_and_the_server_lives_on(server, count, width):
    assert_bad_request(server.request_raw(json.dumps({"op": "batch", "count": count, "width": width})))
    assert_alive(server)
    assert vm_hwm(server.pid) < 64 * MIB


def test_a_2_million_series_header_with_its_payload_stays_small(swift_binary):
    """count 2,000,000 took 3.1 GB: now refused, and its 8 MB payload is discarded as one overlong line."""
    run = run_stream(swift_binary, b'{"op":"batch","count":2000000,"width":0}\n' + bytes(8_000_000) + b"\n")
    replies = [json.loads(line) for line in run.output.splitlines()]
    assert [r.get("code") for r in replies[:3]] == ["bad_request", "bad_request", None], replies[:3]
    assert "exceeds the cap of 100000 series" in replies[0]["message"]
    assert run.returncode == 0 and run.peak_rss < 64 * MIB


def test_a_64_mib_line_is_discarded_unbuffered(server):
    """A 100 MB line peaked at 2.2 GB through readLine(); the bounded reader keeps at most LIMITS.line."""
    reply = server.request_raw('{"op": "' + "x" * (64 * MIB))
    assert_bad_request(reply)
    assert f"exceeds the cap of {LIMITS.line}" in reply["message"]
    assert_alive(server)
    assert vm_hwm(server.pid) < 64 * MIB


def test_long_strings_are_not_echoed_back(server):
    assert_bad_request(server.request_raw(json.dumps({"op": "x" * 500_000})))
    reply = server.request_raw(json.dumps({"points": [["x" * 500_000, 1.0], [1.0, 1.0]]}))
    assert reply["code"] == "bad_point" and len(reply["message"]) < 200
    assert_bad_request(server.request_raw(json.dumps({"id": "x" * 500_000, "op": "codes"})))
    assert_alive(server)


@pytest.mark.parametrize("hex_value", ["+000000000000000", "-000000000000001", "+3ff000000000000",
                                       " 3ff000000000000", "0x3ff00000000000", "3ff000000000000", "3ff00000000000000"])
def test_hex_values_are_exactly_sixteen_hex_digits(swift_encoder, hex_value):
    line = json.dumps({"x": ["0000000000000000", hex_value], "y": ["3ff0000000000000"] * 2})
    assert_bad_request(swift_encoder.request_raw(line))


def test_deep_nesting_is_refused_quickly(server):
    for depth in (9, 1000, 500_000):
        assert_bad_request(server.request_raw('{"points": ' + "[" * depth + "]" * depth + "}"))
    assert_alive(server)


def test_the_largest_batch_the_caps_allow_stays_under_the_memory_bound(server):
    count = LIMITS.count
    codes, bits = server.encode_padded(np.zeros((count, 0, 2)), np.zeros(count, dtype=np.int64))
    assert codes.shape == (count,) and set(codes) == {"too_few_points"}
    assert vm_hwm(server.pid) < PEAK_RSS_BOUND


# -- the fuzzer ---------------------------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    output: bytes
    stderr: bytes
    peak_rss: int  # bytes, VmHWM once everything sent had been answered
    lines_sent: int


#: Sent after a stream until answered: then everything before it has been handled. Repeated,
#: since a pending batch payload or an unfinished line swallows the first ones.
SENTINEL = b'{"op":"codes","id":"end-of-stream"}\n'


def run_stream(binary: Path, data: bytes, timeout: float = 60.0) -> Run:
    """Feed `data` to a fresh server, then sentinels until one is answered; read VmHWM; end its input.

    (VmHWM, not wait4's ru_maxrss: the latter keeps the forking pytest process's own peak.)
    """
    proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output, errors = bytearray(), []
    answered, stopped = threading.Event(), threading.Event()
    sentinels = 0

    def read():
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            output.extend(chunk)
            if b'"id":"end-of-stream"' in output[-(len(chunk) + len(SENTINEL)):]:
                answered.set()
                stopped.set()
        stopped.set()  # end of output: the process died

    def write():
        nonlocal sentinels
        try:
            proc.stdin.write(data)
            batch = 1  # doubling: one or two usually, megabytes when a payload is pending
            while not stopped.is_set():
                proc.stdin.write(SENTINEL * batch)
                proc.stdin.flush()
                sentinels += batch
                stopped.wait(0.002)
                batch = min(2 * batch, 1 << 14)
        except BrokenPipeError:
            pass

    threads = [threading.Thread(target=read), threading.Thread(target=write),
               threading.Thread(target=lambda: errors.append(proc.stderr.read()))]
    for thread in threads:
        thread.start()
    stopped.wait(timeout)
    peak = vm_hwm(proc.pid) if answered.is_set() and proc.poll() is None else -1
    if peak < 0:
        stopped.set()
        proc.kill()
    threads[1].join()
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
    for thread in threads:
        thread.join()
    proc.stdout.close()
    proc.stderr.close()
    assert peak >= 0, (f"the server stopped before answering everything (exit {proc.returncode}, or {timeout} s "
                       f"passed); stderr begins: {errors[-1][:1200].decode(errors='replace')}")
    return Run(proc.returncode, bytes(output), errors[0], peak, data.count(b"\n") + sentinels)


def check_replies(output: bytes, request_lines: int) -> int:
    """Every reply is a JSON line (plus its binary body after an ok batch header); returns how many."""
    pos, replies = 0, 0
    while pos < len(output):
        end = output.find(b"\n", pos)
        assert end >= 0, f"a reply without its newline: {output[pos:pos + 80]!r}"
        assert end - pos <= MAX_REPLY_LINE, f"a reply line of {end - pos} bytes: {output[pos:pos + 80]!r}"
        reply = json.loads(output[pos:end])
        assert isinstance(reply, dict) and isinstance(reply["ok"], bool), reply
        pos = end + 1
        if not reply["ok"]:
            assert reply["code"] in REPLY_CODES and isinstance(reply["message"], str), reply
        elif reply.get("op") == "batch":
            assert 0 <= reply["count"] <= LIMITS.count, reply
            pos += reply["count"] * (1 + 2 * L * 4)
            assert pos <= len(output), "a batch body shorter than its header says"
        replies += 1
    assert replies <= request_lines + 1, f"{replies} replies to {request_lines} lines"
    return replies


hostile_ints = st.sampled_from([2**31 - 1, 2**31, 2**32 + 3, 2**53 + 1, 2**59, 2**62, 2**63 - 1, 2**63, 2**64, 10**30,
                                268_435_455, 20_000_000, 2_000_000, LIMITS.count, LIMITS.count + 1, LIMITS.width,
                                LIMITS.width + 1, LIMITS.cells, LIMITS.cells + 1, -1, -(2**63)])
huge_ints = st.one_of(hostile_ints, st.integers(-3, 300), st.integers())
scalars = st.one_of(st.none(), st.booleans(), huge_ints, st.floats(), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=4), inner, max_size=3), max_leaves=12)
hex_values = st.one_of(st.integers(0, 2**64 - 1).map("{:016x}".format), st.text(max_size=18), st.sampled_from(
    ["+000000000000000", "-000000000000001", "0x3ff00000000000", "３ff0000000000000"]))


@st.composite
def json_requests(draw) -> bytes:
    """A request object with any mix of the protocol's keys, valid or not (NaN is written as `NaN`)."""
    request = draw(st.fixed_dictionaries({}, optional={
        "id": json_values, "op": st.sampled_from(["encode", "codes", "batch", "fly"]) | st.text(max_size=6),
        "points": st.lists(st.lists(scalars, min_size=2, max_size=2), max_size=8) | json_values,
        "x": st.lists(hex_values, max_size=6), "y": st.lists(hex_values, max_size=6),
        "count": huge_ints | scalars, "width": huge_ints | scalars}))
    return json.dumps(request).encode() + b"\n"


@st.composite
def batch_frames(draw) -> bytes:
    """A batch header and its payload, then maybe a mutated header or a cut or padded payload."""
    count, width = draw(st.integers(0, 40)), draw(st.integers(0, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lengths = draw(st.sampled_from(["fit", "wild"]))
    lengths = (rng.integers(0, width + 1, count) if lengths == "fit" else
               rng.integers(-2**31, 2**31, count))
    values = draw(st.sampled_from(["sorted", "bytes"]))
    payload = lengths.astype("<i4").tobytes() + (
        np.sort(rng.normal(size=(count, width, 2)), axis=1).astype("<f8").tobytes() if values == "sorted"
        else rng.bytes(count * width * 16))
    header = {"op": "batch", "count": count, "width": width, "id": draw(st.integers(0, 9))}
    mutation = draw(st.sampled_from(["none", "header", "cut", "pad"]))
    if mutation == "header":
        header[draw(st.sampled_from(["count", "width"]))] = draw(huge_ints | scalars)
    elif mutation == "cut":
        payload = payload[: draw(st.integers(0, max(0, len(payload) - 1)))]
    elif mutation == "pad":
        payload += draw(st.binary(max_size=40))
    return json.dumps(header).encode() + b"\n" + payload


batch_headers = st.builds(lambda count, width, tail: b'{"op":"batch","count":%d,"width":%d}\n%s' % (count, width, tail),
                          huge_ints, huge_ints, st.binary(max_size=64))
deep_nesting = st.builds(lambda prefix, depth, bracket: prefix + bracket * depth + b"\n",
                         st.sampled_from([b"", b'{"points":', b'{"id":', b'{"x":']), st.integers(1, 300_000),
                         st.sampled_from([b"[", b"{", b'{"a":[']))
line_lengths = st.integers(LIMITS.line // 2 - 2, LIMITS.line // 2 + 2) | st.integers(LIMITS.line, 3 * LIMITS.line)
long_lines = st.builds(lambda fill, n: fill * n + b"\n", st.sampled_from([b"x", b"[", b'"', b"\\", b"0,"]),
                       line_lengths)
valid_requests = st.sampled_from([b'{"op":"codes"}\n', b'{"id":3,"points":[[0,1],[2,5],[3,4]]}\n',
                                  b'{"x":["0000000000000000","3ff0000000000000"],'
                                  b'"y":["0000000000000000","3ff0000000000000"]}\n'])
streams = st.lists(st.one_of(batch_headers, json_requests(), batch_frames(), st.binary(max_size=600), deep_nesting,
                             long_lines, valid_requests), min_size=1, max_size=6).map(b"".join)


def check_stream(binary: Path, data: bytes) -> Run:
    run = run_stream(binary, data)
    note(f"{len(data)} bytes in, {len(run.output)} out, peak RSS {run.peak_rss / MIB:.1f} MiB")
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:].decode(errors='replace')}"
    check_replies(run.output, run.lines_sent)
    assert run.peak_rss < PEAK_RSS_BOUND, f"peak RSS {run.peak_rss / MIB:.0f} MiB"
    return run


FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.large_base_example])


@settings(FUZZ, max_examples=30)
@given(data=streams)
def test_every_request_gets_a_wellformed_reply_in_bounded_memory(swift_binary, data):
    check_stream(swift_binary, data)


@pytest.mark.slow
def test_every_request_gets_a_wellformed_reply_in_bounded_memory_at_volume(swift_binary):
    peaks: list[int] = []

    @settings(FUZZ, max_examples=int(os.environ.get("TRENDSPLIT_WIRE_FUZZ_EXAMPLES", "2000")))
    @given(data=streams)
    def fuzz(data):
        peak = check_stream(swift_binary, data).peak_rss
        # Hill-climbing on memory finds the costly streams; it is also what makes a short run's time
        # swing from 3 s to 17 s, so only the volume run aims.
        target(peak / MIB, label="peak RSS (MiB)")
        peaks.append(peak)

    fuzz()
    print(f"\n{len(peaks)} streams; server peak RSS: max {max(peaks) / MIB:.1f} MiB, "
          f"median {np.median(peaks) / MIB:.1f} MiB (bound {PEAK_RSS_BOUND / MIB:.0f} MiB)")
