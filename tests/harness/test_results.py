"""The portable results format: round trips, strict reading, and files written by the Swift recorder."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.results import (
    CaseFile,
    Inputs,
    Results,
    ResultsError,
    decode_array,
    encode_array,
    feeds_sha256,
)
from tests.user_model import series

SHA = "0123456789abcdef" * 4


def results(outputs=None, **changes) -> Results:
    outputs = outputs if outputs is not None else {"y": np.arange(6, dtype=np.float32).reshape(3, 2)}
    fields = dict(model="m", weights_sha256=SHA, backend="coreml@fp16[CPU_AND_NE]", precision="fp16",
                  option="CPU_AND_NE", inputs=Inputs(5, 3, SHA), status="ran", outputs=outputs, seconds=0.5,
                  provenance={"device": "iPhone15,2", "os": "iOS 17.4.0", "tools": {"coremltools": "9.0"}})
    return Results(**{**fields, **changes})


def test_a_results_file_round_trips_every_float32_bit(tmp_path):
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3.4028235e38, 0.1], dtype=np.float32)
    y = np.concatenate([special, np.random.default_rng(0).normal(size=16).astype(np.float32)]).reshape(3, 8)
    saved = Results.read(results({"y": y}).write(tmp_path / "r.json"))
    assert saved.outputs["y"].dtype == np.float32
    assert np.array_equal(saved.outputs["y"].view(np.uint32), y.view(np.uint32))
    assert (saved.backend, saved.option, saved.inputs, saved.provenance["device"]) == (
        "coreml@fp16[CPU_AND_NE]", "CPU_AND_NE", Inputs(5, 3, SHA), "iPhone15,2")
    assert saved.name == "coreml"


def test_the_run_time_reads_back_exactly_so_a_report_from_files_is_the_report_in_memory(tmp_path):
    # saved to 6 places and shown to 4, 0.845549763 became 0.8456; the report in memory said 0.8455
    seconds = 0.845549763
    assert round(round(seconds, 6), 4) != round(seconds, 4)
    assert Results.read(results(seconds=seconds).write(tmp_path / "r.json")).seconds == seconds


def test_arrays_are_base64_of_little_endian_bytes():
    doc = encode_array(np.array([[1.0, -2.5]], dtype=np.float32))
    assert doc["dtype"] == "float32" and doc["shape"] == [1, 2]
    assert base64.b64decode(doc["data"]) == struct.pack("<ff", 1.0, -2.5)
    big_endian = np.array([1.0, -2.5], dtype=">f4")
    assert encode_array(big_endian)["data"] == encode_array(big_endian.astype("<f4"))["data"]


def test_the_feeds_hash_is_the_documented_one():
    feeds = {"x": np.array([[1.0, -0.0]], np.float32), "b": np.array([[[2.5]]], np.float32)}
    by_hand = hashlib.sha256(b"b float32 1,1,1\n" + struct.pack("<f", 2.5)
                             + b"x float32 1,2\n" + struct.pack("<ff", 1.0, -0.0)).hexdigest()
    assert feeds_sha256(feeds) == by_hand
    assert feeds_sha256({"x": np.array([[1.0, 0.0]], np.float32), "b": feeds["b"]}) != by_hand  # -0.0 counts


def _padded(cases, seed):
    """A user's cases as an app pads short series: a length per case, the mask of positions it reads, the
    unpadded values as what the app had, and a kind per case (all fields a cases file must carry)."""
    lengths = np.random.default_rng(seed).integers(8, series.LENGTH + 1, size=len(cases))
    mask = np.arange(series.LENGTH) < lengths[:, None]
    raw = tuple(cases.inputs[i, :, :n] for i, n in enumerate(lengths))
    kinds = tuple("full" if n == series.LENGTH else "short" for n in lengths)
    return dataclasses.replace(cases, decision_mask=mask, kinds=kinds, raw=raw)


def test_a_cases_file_round_trips(series_model, tmp_path):
    from harness.results import Reading

    cases = _padded(series_model.make_cases(30, 4), 4)
    file = CaseFile("series", SHA, "src", True, Reading.of(series_model), cases)
    back = CaseFile.read(file.write(tmp_path / "cases.json"))
    assert back.inputs == file.inputs and back.inputs.sha256 == feeds_sha256(cases.feeds)
    assert np.array_equal(back.cases.decision_mask, cases.decision_mask) and back.cases.kinds == cases.kinds
    assert all(np.array_equal(a, b) for a, b in zip(back.cases.raw, cases.raw, strict=True))
    assert back.reading == file.reading


def test_an_edited_cases_file_is_refused(series_model, tmp_path):
    from harness.results import Reading

    path = CaseFile("series", SHA, "src", True, Reading.of(series_model), series_model.make_cases(3, 0)).write(
        tmp_path / "cases.json")
    doc = json.loads(path.read_text())
    data = bytearray(base64.b64decode(doc["feeds"]["series"]["data"]))
    data[0] ^= 1
    doc["feeds"]["series"]["data"] = base64.b64encode(bytes(data)).decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="do not hash to the recorded sha256"):
        CaseFile.read(path)


def _valid() -> dict:
    return results().to_dict()


def _set(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "says"), [
    (("format",), "trendsplit-harness/cases", "is a 'trendsplit-harness/cases' file, not"),
    (("format",), _DELETE, "no 'format' field"),
    (("version",), 2, "version 2; this harness reads version 1"),
    (("version",), "1", "'version' must be an integer"),
    (("outputs", "y", "data"), "not base64!" + "A" * 21, "not valid base64"),
    (("outputs", "y", "data"), base64.b64encode(b"\0" * 20).decode(), "needs 24 bytes (32 base64 characters), "
                                                                     "data has 28 characters"),
    (("outputs", "y", "dtype"), "float128", "dtype 'float128' is not one of"),
    (("outputs", "y", "shape"), [3, -2], "non-negative integers"),
    (("outputs", "y", "shape"), [2, 3], "inputs.count says 3 cases"),
    (("inputs", "sha256"), "abc", "64 lowercase hex digits"),
    (("inputs", "count"), 0, "at least 1"),
    (("run", "status"), "maybe", "run status 'maybe'"),
    (("run", "seconds"), float("nan"), "'seconds' must be float"),
    (("backend", "label"), "coreml fp16", "is not name@precision"),
    (("model",), _DELETE, "lacks model"),
    (("surprise",), 1, "unknown fields surprise"),
    (("provenance", "device"), ["a"], "provenance.device must be a string"),
    (("outputs",), {}, "marked 'ran' but holds no outputs"),
])
def test_a_malformed_results_file_is_one_named_error(tmp_path, path, value, says):
    file = tmp_path / "r.json"
    file.write_text(json.dumps(_set(_valid(), path, value)))
    with pytest.raises(ResultsError, match=f"^{file}.*") as info:
        Results.read(file)
    assert says in str(info.value)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe garbage", b"[]", b'{"model": "x"}', b"not json", b"null"])
def test_foreign_files_are_refused_by_name(tmp_path, content):
    file = tmp_path / "foreign.json"
    file.write_bytes(content)
    with pytest.raises(ResultsError, match="foreign.json"):
        Results.read(file)


def test_a_folder_or_a_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(ResultsError, match="is a folder"):
        Results.read(tmp_path)
    with pytest.raises(ResultsError, match="no such file"):
        Results.read(tmp_path / "nope.json")


_SCALARS = st.none() | st.booleans() | st.integers(-2, 2**40) | st.floats(allow_nan=True) | st.text(max_size=8)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
_PATHS = [("format",), ("version",), ("model",), ("model", "name"), ("model", "weights_sha256"), ("backend",),
          ("backend", "label"), ("backend", "precision"), ("inputs",), ("inputs", "seed"), ("inputs", "count"),
          ("run",), ("run", "seconds"), ("provenance",), ("outputs",), ("outputs", "y"), ("outputs", "y", "shape"),
          ("outputs", "y", "data"), ("outputs", "y", "dtype")]


@given(path=st.sampled_from(_PATHS), value=_JSON)
def test_any_corruption_reads_back_or_is_one_results_error(tmp_path_factory, path, value):
    """Whatever replaces one field, reading gives a ResultsError, or a Results that is what the file says:
    written back and read again it is the same record, and each output holds its declared shape's values."""
    file = tmp_path_factory.mktemp("fuzz") / "r.json"
    doc = _set(_valid(), path, value)
    file.write_text(json.dumps(doc))
    try:
        read = Results.read(file)
    except ResultsError:
        return
    again = Results.read(read.write(file.with_name("again.json")))
    assert again.to_dict() == read.to_dict()
    for name, array in read.outputs.items():
        assert list(array.shape) == doc["outputs"][name]["shape"]


def test_decode_array_refuses_objects_that_are_not_arrays():
    with pytest.raises(ResultsError, match="exactly dtype, shape and data"):
        decode_array({"dtype": "float32", "shape": [1]}, "here")
    assert decode_array(encode_array(np.array([True, False])), "here").tolist() == [True, False]
