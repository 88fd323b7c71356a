"""The conformance page: a section per suite, one replaced without touching the others or the hand-written text."""

from __future__ import annotations

import pytest

from tests.conformance import suites
from tests.conformance.table import place, render

RECORD = {"nodeid": "coremltools/converters/mil/mil/ops/tests/iOS17/test_linear.py::TestLinear::test_x[a]",
          "test_class": "TestLinear", "precision": "fp32", "reached": True, "ops": ["linear"], "outcome": "passed",
          "missing_ops": [], "max_abs": None, "detail": "", "seconds": 0.1}


def _section(suite: str, outcome: str = "passed") -> str:
    return render([{**RECORD, "outcome": outcome}], f"run {suite}", "today", "versions", suite)


def test_a_suites_section_is_replaced_and_the_rest_of_the_page_kept():
    page = place(None, "mil-ios15", _section("mil-ios15")) + "\n## Hand-written\n\nkept\n"
    page = place(page, "mil-ios18", _section("mil-ios18"))
    page = place(page, "mil-ios16", _section("mil-ios16"))
    again = place(page, "mil-ios18", _section("mil-ios18", "mismatch"))
    order = [again.index(f"<!-- conformance:{s} -->") for s in ("mil-ios15", "mil-ios16", "mil-ios18")]
    assert order == sorted(order) and again.index("## Hand-written") > order[-1]
    assert again.count("<!-- conformance:mil-ios18 -->") == 1 and again.endswith("kept\n")
    ios18 = again[order[-1]:]
    assert "**0 of the 1 cases that reach a prediction pass (0.0%).**" in ios18
    assert "**1 of the 1 cases that reach a prediction pass (100.0%).**" in again[order[0]:order[1]]


def test_a_section_without_its_end_marker_is_refused():
    with pytest.raises(ValueError, match="mil-ios16 has no end marker"):
        place("intro\n<!-- conformance:mil-ios16 -->\n## iOS16\n", "mil-ios17", _section("mil-ios17"))


@pytest.mark.parametrize(("nodeid", "shard"), [
    (RECORD["nodeid"], "converters/mil/mil/ops/tests/iOS17/test_linear.py::TestLinear"),
    ("coremltools/converters/mil/mil/ops/tests/iOS18/test_states.py::test_free[x]",
     "converters/mil/mil/ops/tests/iOS18/test_states.py"),
])
def test_a_case_belongs_to_its_test_class(nodeid, shard):
    assert suites.shard_of(nodeid) == shard


def test_cases_passed_at_fp16_storages_allowance_are_counted_apart():
    records = [{**RECORD, "nodeid": f"{RECORD['nodeid'][:-3]}[{k}]", "fp16_storage": k < 2,
                "outcome": "passed" if k < 3 else "mismatch"} for k in range(4)]
    records.append({**RECORD, "nodeid": RECORD["nodeid"][:-3] + "[m]", "outcome": "mismatch", "fp16_storage": True})
    section = render(records, "run", "today", "versions", "mil-ios17")
    assert "**3 of the 5 cases that reach a prediction pass (60.0%).** 2 of them at fp16 storage's allowance; " \
           "at Apple's tolerances alone 1 pass (20.0%)." in section
    assert "| linear | 3 | 2 | 0 | 2 |" in section
