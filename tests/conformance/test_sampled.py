"""A fixed slice of coremltools' op tests, iOS15 to iOS18, passes against the interpreter (all: tox -e conformance).

One test over the whole sample: the sample runs once in a subprocess, and under pytest-xdist a
session fixture shared by several tests would run it once per worker.
"""

from __future__ import annotations

from tests.conformance import suites
from tests.conformance.conftest import explain, explain_failure
from tests.conformance.table import short

SAMPLE_CLASSES = [target.rsplit("::", 1)[-1] for target in suites.SAMPLE]
#: Outcomes that need no explanation (Apple's own skips and xfails included).
FINE = ("passed", "unsupported", "no prediction", "skipped by the test")


def _listing(records: list[dict]) -> str:
    return "\n".join(f"{r['outcome']}: {short(r['nodeid'])}\n    {r['detail'][:600]}" for r in records)


def test_sampled_op_tests_have_no_unexplained_mismatch(sample_records):
    idle = [cls for cls in SAMPLE_CLASSES
            if not any(r["test_class"] == cls and r["outcome"] == "passed" for r in sample_records)]
    assert not idle, f"no sampled case of {', '.join(idle)} reached the interpreter and passed"
    unexplained = [r for r in sample_records if r["outcome"] not in FINE
                   and not (r["outcome"] == "mismatch" and explain(r["nodeid"], r["max_abs"]))
                   and not (r["outcome"] != "mismatch" and explain_failure(r["nodeid"], r["detail"]))]
    assert not unexplained, (
        "failures; a mismatch needs a fix or an entry in KNOWN_MISMATCHES (tests/conformance/conftest.py):\n"
        + _listing(unexplained))
