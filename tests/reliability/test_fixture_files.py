"""Fixture files edited by hand or by accident: `fixtures check` reads each stored field and names
what is wrong with it in one line, whatever JSON stands there; it never raises."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fixtures import document
from trendsplit import fixtures

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12)
FIELDS = {"encoding_cases.json": ["points", "x_bits", "y_bits", "error"],
          "model_trendsplit.json": ["points", "input_bits", "output_bits", "splits"]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The committed fixtures of one encoding and one model (the others are missing: one line each)."""
    here = tmp_path_factory.mktemp("fixtures")
    for name in FIELDS:
        shutil.copy(fixtures.FIXTURES / name, here / name)
    return here


def _encodes_alike(stored: dict, points) -> bool:
    """Whether `points` (hex strings) encode, in v1, to what `stored`'s points encode to, error or bits."""
    from trendsplit.encoding import encode
    from trendsplit.errors import EncodingError

    def outcome(hexes):
        try:
            return encode([[float.fromhex(v) for v in p] for p in hexes], version=1).tobytes()
        except EncodingError as err:
            return err.code
        except (TypeError, ValueError, OverflowError, AttributeError):
            return None

    if not isinstance(points, list):  # a file's points are a list: `{}` encodes as no points, yet is no list
        return False
    now = outcome(points)
    return now is not None and now == outcome(stored["points"])


def _sealed(doc: dict) -> str:
    """The document with its content_sha256 made right, so `check` reads on into the fields."""
    provenance = {k: v for k, v in doc["provenance"].items() if k != "content_sha256"}
    return document(doc["kind"], provenance, doc["cases"])


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(file=st.sampled_from(sorted(FIELDS)), case=st.integers(0, 23), data=st.data(), value=json_values)
def test_any_value_in_a_case_field_is_named_never_raised(folder, tmp_path, file, case, data, value):
    field = data.draw(st.sampled_from(FIELDS[file]))
    original = json.loads((folder / file).read_text())
    doc = json.loads((folder / file).read_text())
    doc["cases"][case][field] = value
    for name in FIELDS:
        shutil.copy(folder / name, tmp_path / name)
    (tmp_path / file).write_text(_sealed(doc))
    drift = fixtures.check(tmp_path)
    mine = [p for p in drift.problems if p.startswith(f"{file}: case ")]
    if value == original["cases"][case].get(field) and type(value) is type(original["cases"][case].get(field)) \
            or _still_refused_alike(file, original["cases"][case], field, value):
        assert not mine, mine
    elif file == "encoding_cases.json" and field == "points" and _encodes_alike(original["cases"][case], value):
        assert not mine, mine  # other points with the stored outcome (one point or none: too_few_points)
    else:
        assert any(f"case {doc['cases'][case]['name']!r}" in p for p in mine), drift.render()
    assert all("\n" not in p for p in drift.problems)


def _still_refused_alike(file: str, case: dict, field: str, value) -> bool:
    """An error case's points replaced by others the encoder refuses with the same code (one point for
    another, or none, is still `too_few_points`): the case still holds, and `check` is right to pass it."""
    from trendsplit.encoding import EncodingError, encode

    if file != "encoding_cases.json" or field != "points" or "error" not in case or not isinstance(value, list) \
            or not all(isinstance(p, list) and all(isinstance(v, str) for v in p) for p in value):
        return False  # not points at all: named as unreadable
    try:
        encode([[float.fromhex(v) for v in p] for p in value], 1)
    except EncodingError as err:
        return err.code == case["error"]
    except (ValueError, OverflowError):  # not binary64 hex: named as unreadable
        return False
    return False
