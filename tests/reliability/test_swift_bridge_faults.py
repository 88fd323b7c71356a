"""The Python side of the Swift bridge when the process misbehaves: every failure is a named error, never a hang.

Stand-in servers are tiny shell scripts (real processes on real pipes); the last tests stop and
kill the real `trendsplit-encode`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from harness.errors import UsageError
from trendsplit.swift_encoder import (
    LIMITS,
    BadRequest,
    SwiftBridgeError,
    SwiftEncoder,
    SwiftProcessDied,
    SwiftProtocolError,
    SwiftTimeout,
    SwiftUnavailable,
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
