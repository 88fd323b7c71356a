"""The Python side of the Swift bridge when the process misbehaves: every failure is a named error, never a hang.

Stand-in servers are tiny shell scripts (real processes on real pipes); the last tests stop and
kill the real `trendsplit-encode`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import UsageError
from trendsplit.encoding import L
from trendsplit.errors import ERROR_CODES
from trendsplit.swift_encoder import (
    LIMITS,
    BadRequest,
    SwiftBridgeError,
    SwiftEncoder,
    SwiftProcessDied,
    SwiftProtocolError,
    SwiftTimeout,
    SwiftUnavailable,
    build,
)

#: What a well-behaved server answers first (the client's first request is {"id": 1, "op": "codes"}).
CODES_REPLY = ('{"id":1,"ok":true,"codes":["bad_point","too_few_points","too_many_points","non_finite",'
               '"unsorted_x","zero_x_range","encoding_overflow"],"version":1,"length":100}')


def script(tmp_path: Path, body: str, name: str = "server") -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_missing_binary_is_swift_unavailable(tmp_path):
    with pytest.raises(SwiftUnavailable, match="cannot start .*nowhere.*No such file"):
        SwiftEncoder(tmp_path / "nowhere")


def test_a_binary_without_execute_permission_is_swift_unavailable(tmp_path):
    path = tmp_path / "server"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o644)
    with pytest.raises(SwiftUnavailable, match="Permission denied"):
        SwiftEncoder(path)


def test_a_server_that_never_replies_times_out_and_is_killed(tmp_path):
    pid_file = tmp_path / "pid"
    server = script(tmp_path, f"echo $$ > {pid_file}\nexec sleep 60\n")
    start = time.monotonic()
    with pytest.raises(SwiftTimeout, match=r'did not answer \{"op": "codes"\} within 0.5 s'):
        SwiftEncoder(server, timeout=0.5)
    assert time.monotonic() - start < 10
    assert gone(int(pid_file.read_text()))


def test_a_garbage_reply_is_a_protocol_error(tmp_path):
    server = script(tmp_path, "echo 'this is not json'\nexec cat > /dev/null\n")
    with pytest.raises(SwiftProtocolError, match="not JSON: b'this is not json'"):
        SwiftEncoder(server, timeout=5)


def test_a_reply_without_a_boolean_ok_is_a_protocol_error(tmp_path):
    server = script(tmp_path, "echo '[1, 2]'\nexec cat > /dev/null\n")
    with pytest.raises(SwiftProtocolError, match="not an object with a boolean ok"):
        SwiftEncoder(server, timeout=5)


def test_an_endless_reply_line_is_a_protocol_error_not_unbounded_memory(tmp_path):
    server = script(tmp_path, "read line\nexec tr '\\0' y < /dev/zero\n")  # y forever, no newline
    with pytest.raises(SwiftProtocolError, match="a line over 65536 bytes"):
        SwiftEncoder(server, timeout=5)


def test_a_reply_to_another_request_is_a_protocol_error_and_the_encoder_stops(tmp_path):
    server = script(tmp_path, f"read line\necho '{CODES_REPLY}'\nread line\n"
                              "echo '{\"id\":99,\"ok\":true,\"bits\":[]}'\nexec cat > /dev/null\n")
    with SwiftEncoder(server, timeout=5) as encoder:
        with pytest.raises(SwiftProtocolError, match="answered request 99 when the encoding of 2 points was id 2"):
            encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))
        assert encoder.proc.poll() is not None
        with pytest.raises(SwiftBridgeError, match="stopped after an earlier error"):
            encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))


def test_a_process_that_exits_reports_its_code_and_stderr(tmp_path):
    server = script(tmp_path, f"read line\necho '{CODES_REPLY}'\nread line\necho 'out of cheese' >&2\nexit 3\n")
    died = r"(?s)exited with code 3 while answering the encoding of 2 points.*out of cheese"
    with SwiftEncoder(server, timeout=5) as encoder, pytest.raises(SwiftProcessDied, match=died):
        encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))


def test_a_process_that_stops_reading_is_named(tmp_path):
    server = script(tmp_path, f"read line\nexec 0<&-\necho '{CODES_REPLY}'\nexec sleep 60\n")
    with SwiftEncoder(server, timeout=5) as encoder, pytest.raises(
            SwiftProtocolError, match="closed its input while answering the encoding of 2 points"):
        encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))


def test_a_process_that_dies_before_its_first_reply_reports_its_code(tmp_path):
    server = script(tmp_path, "exit 7\n")
    with pytest.raises(SwiftProcessDied, match="exited with code 7"):
        SwiftEncoder(server, timeout=5)


def test_the_timeout_must_be_positive(tmp_path):
    with pytest.raises(UsageError, match="timeout must be a positive"):
        SwiftEncoder(tmp_path / "unused", timeout=0)


# -- lengths and shapes are checked before anything is sent ----------------------------------------


@pytest.fixture
def recording_encoder(tmp_path):
    """A stand-in server that answers `codes`, then records every byte sent to it."""
    record = tmp_path / "sent"
    server = script(tmp_path, f"read line\necho '{CODES_REPLY}'\nexec cat > {record}\n")
    encoder = SwiftEncoder(server, timeout=5)
    yield encoder
    encoder.close()
    assert record.read_bytes() == b"", "a refused batch was sent anyway"


XY = np.zeros((2, 4, 2))


@pytest.mark.parametrize(("lengths", "rule"), [
    ([2**32 + 3, 2], r"lengths\[0\] = 4294967299 is outside 0..4"),  # wrapped to 3 on the int32 wire before
    ([2**64 + 3, 2], r"lengths\[0\] = 18446744073709551619 is outside 0..4"),
    ([-1, 2], r"lengths\[0\] = -1 is outside"),
    ([2, 5], r"lengths\[1\] = 5 is outside 0..4"),
    ([2.0, 3.0], "lengths must be integers, got dtype float64"),
    ([True, False], "lengths must be integers, got dtype bool"),
    (["2", "3"], "lengths must be integers"),
    ([2], r"one entry per series \(2\), got shape \(1,\)"),
    ([[2, 2]], r"one entry per series \(2\), got shape \(1, 2\)"),
])
def test_bad_lengths_are_refused_before_sending(recording_encoder, lengths, rule):
    with pytest.raises(BadRequest, match=rule):
        recording_encoder.encode_padded(XY, lengths)


@pytest.mark.parametrize(("xy", "rule"), [
    (np.zeros((2, 4)), r"shape \[B, M, 2\], got \(2, 4\)"),
    (np.zeros((2, 4, 3)), r"shape \[B, M, 2\], got \(2, 4, 3\)"),
    (np.full((2, 4, 2), "a"), "float64 numbers"),
    ([[[0, 0]], [[0, 0], [1, 1]]], "float64 numbers"),
])
def test_bad_shapes_are_refused_before_sending(recording_encoder, xy, rule):
    with pytest.raises(BadRequest, match=rule):
        recording_encoder.encode_padded(xy, [1, 1])


@pytest.mark.parametrize("shape", [(LIMITS.count + 1, 0, 2), (1, LIMITS.width + 1, 2),
                                   (LIMITS.cells // LIMITS.width + 1, LIMITS.width, 2)])
def test_batches_over_the_caps_are_refused_before_sending(recording_encoder, shape):
    xy = np.broadcast_to(np.float64(0), shape)  # a view: the refusal must not copy it
    with pytest.raises(BadRequest, match="exceeds the encoder's caps"):
        recording_encoder.encode_padded(xy, np.zeros(shape[0], dtype=np.int64))


def test_a_json_request_over_the_line_cap_is_refused_before_sending(recording_encoder):
    points = np.stack([np.arange(LIMITS.line // 38 + 1.0)] * 2, axis=1)
    with pytest.raises(BadRequest, match="over the encoder's cap"):
        recording_encoder.encode(points)


# -- the real server, stopped or killed ---------------------------------------------------------------


@pytest.mark.swift
def test_the_client_uses_the_caps_the_server_reports_which_are_pythons(swift_encoder):
    assert swift_encoder.limits == LIMITS


@pytest.mark.swift
def test_a_stopped_server_times_out_and_is_killed(swift_binary):
    encoder = SwiftEncoder(swift_binary, timeout=1.0)
    try:
        os.kill(encoder.pid, signal.SIGSTOP)
        start = time.monotonic()
        stopped = rf"did not answer the encoding of 2 points within 1 s \(pid {encoder.pid}, now killed"
        with pytest.raises(SwiftTimeout, match=stopped):
            encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))
        assert time.monotonic() - start < 10
        assert encoder.proc.poll() == -signal.SIGKILL
        with pytest.raises(SwiftBridgeError, match="stopped after an earlier error"):
            encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))
    finally:
        encoder.close()


@pytest.mark.swift
def test_a_stopped_server_times_out_while_a_large_batch_is_being_sent(swift_binary):
    """A batch bigger than the pipe's buffer: the write itself must give up at the deadline."""
    encoder = SwiftEncoder(swift_binary, timeout=1.0)
    try:
        os.kill(encoder.pid, signal.SIGSTOP)
        with pytest.raises(SwiftTimeout, match="the batch of 2000 series"):
            encoder.encode_padded(np.zeros((2000, 150, 2)), np.full(2000, 150))
    finally:
        encoder.close()


@pytest.mark.swift
def test_a_killed_server_reports_the_signal(swift_binary):
    with SwiftEncoder(swift_binary, timeout=5.0) as encoder:
        os.kill(encoder.pid, signal.SIGKILL)
        encoder.proc.wait()
        with pytest.raises(SwiftProcessDied, match="killed by signal SIGKILL"):
            encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))


# -- every field of a reply is checked (Hypothesis) ----------------------------------------------------

VALID_BITS = [0x3F000000] * (2 * L)
#: Values a JSON reply can hold that are not a uint32: floats (whole or not), negatives, beyond 32 bits,
#: booleans, strings, null, containers. `np.array(bits, dtype=np.uint32)` truncated some and raised on others.
NOT_UINT32 = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(max_value=-1),
                       st.integers(min_value=2**32), st.booleans(), st.text(max_size=5), st.none(),
                       st.lists(st.integers(0, 9), max_size=2), st.just({}))
NOT_INT = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.text(max_size=5),
                    st.none(), st.lists(st.integers(), max_size=2))


@st.composite
def broken_encode_replies(draw) -> dict:
    """The reply to the client's encode request (id 2), one field broken."""
    reply = {"id": 2, "ok": True, "bits": list(VALID_BITS)}
    field = draw(st.sampled_from(["bits value", "bits length", "bits", "id", "ok", "code", "message"]))
    if field == "bits value":
        reply["bits"][draw(st.integers(0, 2 * L - 1))] = draw(NOT_UINT32)
    elif field == "bits length":
        reply["bits"] = VALID_BITS[:draw(st.integers(0, 2 * L - 1))] or VALID_BITS * 2
    elif field == "bits":
        reply["bits"] = draw(st.one_of(NOT_INT, st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)))
    elif field == "id":
        reply["id"] = draw(st.one_of(st.just(2.0), st.just(True), st.just("2"), st.integers().filter(lambda i: i != 2),
                                     st.none()))
    elif field == "ok":
        reply["ok"] = draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
    elif field == "code":
        reply = {"id": 2, "ok": False, "message": "m",
                 "code": draw(st.one_of(NOT_INT, st.integers(), st.text(max_size=12).filter(
                     lambda c: c not in (*ERROR_CODES, "bad_request"))))}
    else:
        reply = {"id": 2, "ok": False, "code": "bad_point", "message": draw(NOT_INT.filter(
            lambda m: not isinstance(m, str)))}
    return reply


@st.composite
def broken_codes_replies(draw) -> dict:
    """The server's first reply (to {"op": "codes"}), one of its fields broken."""
    reply = json.loads(CODES_REPLY)
    reply["limits"] = {"count": 100_000, "width": 4096, "cells": 1 << 24, "line": 1 << 20}
    reply["versions"] = [1, 2]
    field = draw(st.sampled_from(["codes", "limits", "limit", "versions"]))
    if field == "codes":
        reply["codes"] = draw(st.one_of(NOT_INT, st.just([]), st.lists(st.integers(), min_size=1, max_size=3),
                                        st.just(["a", "a"])))
    elif field == "limits":
        reply["limits"] = draw(st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)))
    elif field == "limit":
        reply["limits"][draw(st.sampled_from(sorted(reply["limits"])))] = draw(st.one_of(
            NOT_INT, st.integers(max_value=0), st.none()))
    else:
        reply["versions"] = draw(st.one_of(st.just([]), st.lists(NOT_INT | st.integers(max_value=0), min_size=1,
                                                                 max_size=3), st.text(max_size=3), st.integers()))
    return reply


def _server_replying(folder: Path, first: dict | str, second: dict | None = None) -> Path:
    (folder / "first").write_text((first if isinstance(first, str) else json.dumps(first)) + "\n")
    body = f"read line\ncat {folder / 'first'}\n"
    if second is not None:
        (folder / "second").write_text(json.dumps(second) + "\n")
        body += f"read line\ncat {folder / 'second'}\n"
    return script(folder, body + "exec cat > /dev/null\n")


@settings(max_examples=80, deadline=None)
@given(reply=broken_encode_replies())
def test_an_encode_reply_with_any_field_out_of_its_type_or_range_is_a_protocol_error_and_stops_the_server(
        tmp_path_factory, reply):
    server = _server_replying(tmp_path_factory.mktemp("server"), CODES_REPLY, reply)
    with SwiftEncoder(server, timeout=5) as encoder:
        with pytest.raises(SwiftProtocolError, match="trendsplit-encode"):
            encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))
        assert encoder.proc.poll() is not None  # stopped: the stream's framing is no longer known
        with pytest.raises(SwiftBridgeError, match="stopped after an earlier error"):
            encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))


@settings(max_examples=40, deadline=None)
@given(reply=broken_codes_replies())
def test_a_codes_reply_with_any_field_out_of_its_type_or_range_is_a_protocol_error(tmp_path_factory, reply):
    server = _server_replying(tmp_path_factory.mktemp("server"), reply)
    with pytest.raises(SwiftProtocolError, match="trendsplit-encode"):
        SwiftEncoder(server, timeout=5)


@pytest.mark.parametrize("reply", [{"id": 2, "ok": True, "bits": VALID_BITS},
                                   {"id": 2, "ok": True, "bits": [0, 2**32 - 1] * L},
                                   {"id": 2, "ok": False, "code": "unsorted_x", "message": "x decreases"},
                                   {"id": 2, "ok": False, "code": "bad_request"}])
def test_a_wellformed_encode_reply_is_taken_as_it_is(tmp_path, reply):
    with SwiftEncoder(_server_replying(tmp_path, CODES_REPLY, reply), timeout=5) as encoder:
        result = encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]]))
    if reply["ok"]:
        assert result.code == "" and result.bits.dtype == np.uint32
        assert result.bits.ravel().tolist() == reply["bits"]
    else:
        assert (result.code, result.message) == (reply["code"], reply.get("message", ""))


@pytest.mark.parametrize(("field", "value"), [("count", 2.0), ("count", True), ("count", 3), ("channels", 2.0),
                                              ("channels", 4), ("version", 2), ("ok", 1), ("id", 2.0)])
def test_a_batch_reply_header_out_of_its_type_is_a_protocol_error(tmp_path, field, value):
    header = {"id": 2, "ok": True, "op": "batch", "count": 2, "version": 1, "channels": 2, field: value}
    with SwiftEncoder(_server_replying(tmp_path, CODES_REPLY, header), timeout=5) as encoder:
        with pytest.raises(SwiftProtocolError):
            encoder.encode_padded(np.zeros((2, 3, 2)), [3, 3])
        assert encoder.proc.poll() is not None


# -- swift build is bounded --------------------------------------------------------------------------

@pytest.fixture
def hanging_swift(tmp_path, monkeypatch):
    """A `swift` on PATH that never returns, and leaves a grandchild that would not either."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "grandchild"
    script(bin_dir, f"sleep 300 &\necho $! > {pid_file}\nexec sleep 300\n", name="swift")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return pid_file


def test_a_swift_build_that_never_returns_is_stopped_at_its_timeout(hanging_swift):
    start = time.monotonic()
    with pytest.raises(SwiftUnavailable, match=r"^swift build did not finish within 1 s and was stopped; allow "
                                               r"longer with --build-timeout or TRENDSPLIT_SWIFT_BUILD_TIMEOUT$"):
        build(timeout=1.0)
    assert time.monotonic() - start < 10
    deadline = time.monotonic() + 5
    while not gone(int(hanging_swift.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(int(hanging_swift.read_text())), "the build's own children were left running"


@pytest.mark.parametrize(("argv", "env"), [(["--build-timeout", "1"], {}),
                                           ([], {"TRENDSPLIT_SWIFT_BUILD_TIMEOUT": "1"})])
def test_swift_fuzz_with_a_hanging_toolchain_fails_in_one_line(hanging_swift, argv, env):
    proc = subprocess.run([sys.executable, "-m", "trendsplit", "swift-fuzz", "--hypothesis", "--seconds", "1", *argv],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("[harness]")]
    assert errors == ["python -m trendsplit: swift build did not finish within 1 s and was stopped; allow longer "
                      "with --build-timeout or TRENDSPLIT_SWIFT_BUILD_TIMEOUT"]


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_a_build_timeout_that_is_not_a_positive_number_is_a_usage_error(monkeypatch, value):
    monkeypatch.setenv("TRENDSPLIT_SWIFT_BUILD_TIMEOUT", value)
    with pytest.raises(UsageError, match="TRENDSPLIT_SWIFT_BUILD_TIMEOUT must be|positive number of seconds"):
        build()
