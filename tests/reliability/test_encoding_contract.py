"""The encoder's contract for any Python object: float32 [2, 100], or an `EncodingError`.

Nothing else: no raw exception, no warning, and no silent reinterpretation of a container
that could reorder, drop or mistype the points (see `trendsplit.encoding.SEQUENCES`).
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import json
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trendsplit.encoding import L, encode, encode_batch, encode_padded
from trendsplit.errors import BadPoint, EncodingError, TooManyPoints

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
    st.binary(max_size=5), st.complex_numbers(), st.decimals(), st.fractions(),
    st.integers(-(10**30), 10**30), st.sampled_from([np.float32(1.5), np.int64(3), np.bool_(True), np.float16(2),
                                                     np.complex64(1j), np.datetime64("2020-01-01"),
                                                     np.timedelta64(3, "D"), datetime.date(2020, 1, 1)]),
)


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=6), st.lists(children, max_size=6).map(tuple),
        st.dictionaries(st.integers(0, 3) | st.text(max_size=2), children, max_size=4),
        st.frozensets(st.integers() | st.floats(allow_nan=False), max_size=4),
        st.lists(children, max_size=4).map(iter), st.lists(children, max_size=4).map(lambda v: (x for x in v)),
    )


anything = st.recursive(scalars, _containers, max_leaves=30)
arrays = st.one_of(
    st.tuples(st.sampled_from(["f8", "f4", "f2", "i8", "i4", "u1", "?", "c16", "m8[D]", "M8[s]", "O", "U3",
                               "g"]),
              st.lists(st.integers(0, 4), min_size=0, max_size=3)).map(
        lambda spec: np.zeros(spec[1], dtype=spec[0])),
)


def _check(call, value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning is a silent change of the input: not allowed
        try:
            out = call(value)
        except EncodingError:
            return
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


@given(value=anything | arrays | st.from_type(type).flatmap(st.from_type))
def test_encode_returns_float32_or_raises_an_encoding_error_for_any_object(value):
    _check(lambda v: encode(v), value)
    _check(lambda v: encode_batch(v), value)
    _check(lambda v: encode_batch([v]), value)


@given(xy=anything | arrays, lengths=anything | arrays)
def test_encode_padded_returns_or_raises_an_encoding_error_for_any_objects(xy, lengths):
    def call(v):
        return encode_padded(v, lengths).values

    _check(call, xy)


REFUSED = {
    "dict points": [{0: 0.0, 1: 10.0}, {0: 1.0, 1: 11.0}],
    "set of pairs": {(0.0, 1.0), (1.0, 2.0), (1.0, 2.0)},
    "frozenset point": [frozenset({0.0, 1.0}), (1.0, 2.0)],
    "generator": ((float(i), 1.0) for i in range(3)),
    "iterator": iter([(0.0, 1.0), (1.0, 2.0)]),
    "map": map(lambda i: (float(i), 1.0), range(3)),
    "memoryview": memoryview(np.zeros((3, 2))),
    "np.matrix": np.array([[0.0, 1.0], [1.0, 2.0]]).view(np.matrix),
    "torch tensor": torch.zeros(3, 2),
    "timedelta64 array": np.array([[0, 1], [1, 2]], dtype="m8[D]"),
    "datetime64 array": np.array([[0, 1], [1, 2]], dtype="M8[s]"),
    "complex points": [(0.0, 1 + 2j), (1.0, 2.0)],
    "complex array": np.array([[0, 1j], [1, 2]]),
    "object array of strings": np.array([["0", "1"], ["1", "2"]], dtype=object),
    "None": None,
    "bare number": 3.0,
    "0-d array": np.array(3.0),
    "string": "0,1;1,2",
    "bools": [(True, False), (False, True)],
    "decimal": [(decimal.Decimal(0), 1.0), (1.0, 2.0)],
    "longdouble array": np.zeros((3, 2), dtype=np.longdouble),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_container_that_could_change_the_points_is_refused_by_name(name):
    with pytest.raises(BadPoint):
        encode(REFUSED[name])


def test_what_is_accepted_encodes_identically():
    pairs = [(0.0, 1.5), (1.0, 2.5), (3.0, 2.0)]
    ref = encode(pairs)
    same = [[list(p) for p in pairs], tuple(pairs), np.array(pairs), np.array(pairs, dtype=np.float32),
            [np.array(p) for p in pairs], [(np.float64(x), np.int64(y * 2) / 2) for x, y in pairs],
            [(fractions.Fraction(x), y) for x, y in pairs]]
    for value in same:
        assert np.array_equal(encode(value).view(np.uint32), ref.view(np.uint32)), value
    assert ref.shape == (2, L)


@pytest.mark.parametrize("lengths", [[2.99], [True], [10**30], [-1], np.array([2.5]), "abc", None, [3, 4], 7])
def test_encode_padded_refuses_lengths_that_are_not_whole_numbers_of_rows(lengths):
    xy = np.zeros((1, 3, 2))
    with pytest.raises(BadPoint):
        encode_padded(xy, lengths)


@pytest.mark.parametrize("xy", ["abc", None, [[[0.0, 1.0]]], np.zeros((1, 3, 2), dtype=object), np.zeros((3, 2))])
def test_encode_padded_refuses_what_is_not_a_numeric_batch_array(xy):
    with pytest.raises(BadPoint):
        encode_padded(xy, [2])


# -- too many points is decided by the length alone --------------------------------------------------

long_inputs = st.tuples(st.integers(L + 1, 5_000), anything | arrays, st.sampled_from([list, tuple]))


@given(long=long_inputs, version=st.sampled_from([1, 2]))
def test_more_than_l_points_is_too_many_points_whatever_the_points_are(long, version):
    """Checked before any point is read: a bad point past L points is not reached (bad_point came first
    before, after converting every point; ten million took 15 s and 300 MB)."""
    n, point, container = long
    with pytest.raises(TooManyPoints, match=f"at most {L} points fit the model, got {n}"):
        encode(container([point] * n), version)
    with pytest.raises(TooManyPoints, match=f"example 1: at most {L} points"):
        encode_batch([[[0.0, 0.0], [1.0, 1.0]], container([point] * n)], version)


@given(n=st.integers(L + 1, 10**12), version=st.sampled_from([1, 2]))
def test_an_array_of_more_than_l_rows_is_refused_without_reading_it(n, version):
    rows = np.lib.stride_tricks.as_strided(np.zeros(3), shape=(n, 3), strides=(0, 8), writeable=False)
    with pytest.raises(TooManyPoints, match=f"got {n}"):  # any dtype, any row width: the length decides
        encode(rows, version)


def test_ten_million_points_are_refused_at_once_in_little_memory():
    points = [[0.0, 0.0]] * 10_000_000
    array = np.broadcast_to(np.float64(0), (10_000_000, 2))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        for value in (points, tuple(points[:200]), array):
            with pytest.raises(TooManyPoints):
                encode(value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0  # 15 s before
    assert peak < 1 << 20  # 300 MB before


def test_an_earlier_examples_error_comes_before_a_later_examples_bad_point():
    """`encode_batch` raises the first example's error: example 0's too_few_points, not example 1's bad_point."""
    with pytest.raises(EncodingError, match="too_few_points: example 0"):
        encode_batch([[[0.0, 0.0]], [["a", 1.0], [1.0, 1.0]]])
    with pytest.raises(TooManyPoints, match="example 1"):
        encode_batch([[[0.0, 0.0], [1.0, 1.0]], [["a", 1.0]] * (L + 1), [[0.0, 0.0]]])
    with pytest.raises(BadPoint, match="example 1"):
        encode_batch([[[0.0, 0.0], [1.0, 1.0]], [["a", 1.0]] * L, [[0.0, 0.0]] * (L + 1)])


json_scalars = st.none() | st.booleans() | st.integers(-10, 10) | st.floats(-1e6, 1e6) | st.text(max_size=3)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=2), inner, max_size=2), max_leaves=5)


@pytest.mark.swift
@settings(max_examples=60)
@given(n=st.integers(L - 3, 400), points=st.lists(json_values, min_size=1, max_size=4), version=st.sampled_from([1, 2]))
def test_the_swift_encoder_refuses_long_json_points_as_python_does(swift_encoder, n, points, version):
    """Any JSON points: past L, `too_many_points` on both sides, before either reads a point."""
    sent = (points * n)[:n]
    request = {"points": sent, **({"version": version} if version != 1 else {})}
    reply = swift_encoder.request_raw(json.dumps(request))
    try:
        encode(sent, version)
        python = ""
    except EncodingError as err:
        python = err.code
    if n > L:
        assert python == reply["code"] == "too_many_points", reply
    elif python == "bad_point":
        assert reply.get("code") in ("bad_point", "bad_request"), reply  # JSON Swift could not parse at all
