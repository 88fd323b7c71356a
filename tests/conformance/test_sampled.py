"""A fixed slice of coremltools' own op tests passes against the interpreter (the full run: tox -e conformance)."""

from __future__ import annotations

import pytest

from tests.conformance import suites
from tests.conformance.conftest import explain
from tests.conformance.table import short

SAMPLE_CLASSES = [target.rsplit("::", 1)[-1] for target in suites.SAMPLE]


def _listing(records: list[dict]) -> str:
    return "\n".join(f"{r['outcome']}: {short(r['nodeid'])}\n    {r['detail'][:600]}" for r in records)


@pytest.mark.parametrize("test_class", SAMPLE_CLASSES)
def test_sampled_op_class_has_no_unexplained_mismatch(sample_records, test_class):
    cases = [r for r in sample_records if r["test_class"] == test_class]
    assert any(r["outcome"] == "passed" for r in cases), (
        f"no sampled {test_class} case reached the interpreter and passed:\n{_listing(cases)}")
    unexplained = [r for r in cases if r["outcome"] in ("error", "failed before prediction")
                   or (r["outcome"] == "mismatch" and not explain(r["nodeid"], r["max_abs"]))]
    assert not unexplained, (
        "mismatches need a fix or an entry in KNOWN_MISMATCHES (tests/conformance/conftest.py):\n"
        + _listing(unexplained))
