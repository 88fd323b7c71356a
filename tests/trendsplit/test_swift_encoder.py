"""The persistent Swift encoder process and its framed protocol."""

from __future__ import annotations

import numpy as np
import pytest

from trendsplit.encoding import L, encode
from trendsplit.errors import ERROR_CODES

pytestmark = pytest.mark.swift


def test_swift_error_codes_are_pythons_in_order(swift_encoder):
    assert swift_encoder.codes == ERROR_CODES


def test_json_mode_returns_python_bits(swift_encoder):
    points = np.array([[41, 24], [163, 116], [254, 116], [319, 103]], dtype=np.float64)
    result = swift_encoder.encode(points)
    assert result.code == "" and np.array_equal(result.bits, encode(points).view(np.uint32))


def test_json_mode_reports_the_error_code(swift_encoder):
    result = swift_encoder.encode(np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert result.code == "unsorted_x" and result.bits is None and "point 1" in result.message


@pytest.mark.parametrize("line", ["garbage", "{}", '{"op": "fly"}', '{"x": ["00"], "y": ["00"]}',
                                  '{"points": 3}', "[]"])
def test_malformed_requests_get_an_error_reply_and_the_process_lives_on(swift_encoder, line):
    reply = swift_encoder.request_raw(line)
    assert reply["ok"] is False and reply["code"] == "bad_request"
    assert swift_encoder.encode(np.array([[0.0, 0.0], [1.0, 1.0]])).code == ""


def test_readable_points_with_a_bad_point(swift_encoder):
    reply = swift_encoder.request_raw('{"id": 5, "points": [[0, 1, 2], [1, 1]]}')
    assert reply == {"id": 5, "ok": False, "code": "bad_point",
                     "message": "point 0 is not exactly two numbers: it has 3 values"}


def test_binary_batch_matches_json_mode(swift_encoder):
    rng = np.random.default_rng(0)
    xy = np.sort(rng.normal(size=(5, 20, 2)), axis=1)
    lengths = np.array([20, 2, 1, 0, 7])
    codes, bits = swift_encoder.encode_padded(xy, lengths)
    assert codes.tolist() == ["", "", "too_few_points", "too_few_points", ""]
    for k in (0, 1, 4):
        single = swift_encoder.encode(xy[k, : lengths[k]])
        assert np.array_equal(bits[k], single.bits)
    assert bits.shape == (5, 2, L) and not bits[2].any()


def test_the_server_speaks_every_version(swift_encoder):
    assert swift_encoder.versions == (1, 2, 3, 4)


def test_json_mode_v2_returns_python_bits_and_v1_requests_carry_no_version(swift_encoder):
    points = np.array([[41, 24], [163, 116], [254, 116], [319, 103]], dtype=np.float64)
    result = swift_encoder.encode(points, version=2)
    assert result.code == "" and result.bits.shape == (4, L)
    assert np.array_equal(result.bits, encode(points, version=2).view(np.uint32))
    plain = swift_encoder.request_raw('{"id": 9, "points": [[41, 24], [163, 116], [254, 116], [319, 103]]}')
    assert plain["bits"] == encode(points).view(np.uint32).ravel().tolist()


def test_binary_batch_v2_matches_json_mode(swift_encoder):
    rng = np.random.default_rng(1)
    xy = np.sort(rng.normal(size=(4, 20, 2)) * 50, axis=1)
    lengths = np.array([20, 2, 1, 9])
    codes, bits = swift_encoder.encode_padded(xy, lengths, version=2)
    assert bits.shape == (4, 4, L) and codes.tolist() == ["", "", "too_few_points", ""]
    for k in (0, 1, 3):
        assert np.array_equal(bits[k], swift_encoder.encode(xy[k, : lengths[k]], version=2).bits)


def test_binary_batch_v3_matches_json_mode_and_python(swift_encoder):
    rng = np.random.default_rng(2)
    xy = np.sort(rng.normal(size=(4, 30, 2)) * 20, axis=1)
    xy[:, :, 1] = rng.normal(size=(4, 30)) * 3  # noisy offsets: a noise scale inside its clamps
    lengths = np.array([30, 2, 3, 17])
    codes, bits = swift_encoder.encode_padded(xy, lengths, version=3)
    assert bits.shape == (4, 7, L) and codes.tolist() == ["", "", "", ""]
    for k in range(4):
        assert np.array_equal(bits[k], swift_encoder.encode(xy[k, : lengths[k]], version=3).bits)
        assert np.array_equal(bits[k], encode(xy[k, : lengths[k]], version=3).view(np.uint32))
    assert 0.125 < bits[0, 5, 0].view(np.float32) < 32


def test_an_unknown_version_is_refused_before_sending(swift_encoder):
    from trendsplit.errors import UnsupportedEncodingVersion

    with pytest.raises(UnsupportedEncodingVersion):
        swift_encoder.encode(np.zeros((2, 2)), version=5)
    with pytest.raises(UnsupportedEncodingVersion):
        swift_encoder.encode_padded(np.zeros((1, 2, 2)), [2], version=0)
    reply = swift_encoder.request_raw('{"version": 5, "points": [[0, 0], [1, 1]]}')
    assert reply["ok"] is False and reply["code"] == "unsupported_version"
