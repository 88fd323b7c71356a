"""The command line's structured strings (`--backends`, `--atol`/`--rtol`) under Hypothesis: every string is
either read exactly as the library reads it or refused with a UsageError, never another exception."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from harness import backend_names
from harness.backends import create
from harness.errors import UsageError
from harness.parity.tolerances import POLICIES, Overrides, parse

NAMES = [*backend_names.BACKENDS, "tflite", "Torch", "coreml_emulated", ""]
PARTS = ["fp32", "fp16", "bf16", "", "CPU_ONLY", "cpu_only", "ALL", "fp16-storage", "GPU", "x y"]


@st.composite
def references(draw) -> str:
    """Backend references, mostly well-formed around the real names, some not."""
    text = draw(st.sampled_from(NAMES))
    if draw(st.booleans()):
        text += "@" + draw(st.sampled_from(PARTS))
    if draw(st.booleans()):
        text += "[" + draw(st.sampled_from(PARTS)) + draw(st.sampled_from(["]", "", "]]"]))
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.text(string.printable, max_size=12))
    return text


@given(references())
def test_a_reference_passes_the_parse_time_check_exactly_when_the_registry_accepts_it(ref):
    try:
        backend_names.check(ref)
        early = None
    except UsageError as err:
        early = err
    try:
        create(ref)
        late = None
    except UsageError as err:
        late = err
    assert (early is None) == (late is None), (ref, early, late)


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["", "abc", "1e-4x"]))


@given(st.lists(st.tuples(st.sampled_from(["fp32", "fp16", "fp64", "", " fp32"]), st.sampled_from(["=", ":", ""]),
                          NUMBERS), max_size=4).map(lambda parts: ",".join(a + b + c for a, b, c in parts)))
def test_a_tolerance_override_is_read_whole_or_refused_in_one_line(text):
    try:
        values = parse(text, "atol")
    except UsageError as err:
        assert "\n" not in str(err) and str(err)
        return
    overrides = Overrides(atol=values)
    for name, value in values.items():
        assert 0 <= value <= 1e6
        assert overrides.apply(POLICIES[name]).atol == value
