"""Differential fuzzing: the Python encoder against the app's Swift encoder, bit for bit.

Hypothesis mode sends one example at a time through the JSON protocol and prints a
copy-pasteable reproduction on failure; volume mode sends seeded numpy batches through
the binary protocol. Both run for every encoding version.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from tests.trendsplit.strategies import any_points, sorted_points, watch_logs
from trendsplit import differential
from trendsplit.encoding import CHANNELS, encode
from trendsplit.errors import EncodingError

pytestmark = pytest.mark.swift
VERSIONS = sorted(CHANNELS)


def python_side(points: np.ndarray, version: int) -> tuple[str, np.ndarray | None]:
    try:
        return "", encode(points, version).view(np.uint32)
    except EncodingError as err:
        return err.code, None


def reproduction(points: np.ndarray, version: int) -> str:
    pts = ", ".join(f"[float.fromhex('{float(x).hex()}'), float.fromhex('{float(y).hex()}')]"
                    for x, y in points)
    return f"from trendsplit.encoding import encode\nencode([{pts}], version={version})"


@st.composite
def epoch_logs(draw):
    """Watch logs with x in epoch seconds or epoch days."""
    points = draw(watch_logs())
    unit = draw(st.sampled_from([86_400.0, 1.0]))
    return points * np.array([unit, 1.0]) + np.array([draw(st.sampled_from([1.7e9, 19_700.0])), 0.0])


@st.composite
def extreme_points(draw):
    """Subnormals, values near the float64 limits, tiny and huge ranges."""
    edge = st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                            -1.7976931348623157e308, 1e-300, 1e300, 0.0, -0.0, 1.0])
    return draw(sorted_points(min_points=0, max_points=12,
                              elements=st.one_of(edge, st.floats(allow_nan=False, allow_infinity=False))))


cases = st.one_of(watch_logs(), epoch_logs(), extreme_points(), any_points(),
                  sorted_points(min_points=0, max_points=150))


@pytest.mark.parametrize("version", VERSIONS)
@given(points=cases)
def test_swift_encoder_agrees_with_python_bit_for_bit(swift_encoder, version, points):
    note(f"reproduce:\n{reproduction(points, version)}")
    code, bits = python_side(points, version)
    swift = swift_encoder.encode(points, version)
    assert swift.code == code, f"Swift says {swift.code!r}, Python says {code!r}"
    if bits is not None:
        diff = np.argwhere(swift.bits != bits)
        assert not len(diff), f"first differing value at channel/index {diff[0].tolist()}"


@pytest.mark.parametrize("version", VERSIONS)
def test_seeded_batches_agree_through_the_binary_protocol(swift_encoder, version):
    result = differential.run(swift_encoder, cases=100_000, seed=1, version=version)
    assert result, result.render()
    assert result.cases == 100_000 and result.version == version
    assert set(result.codes) >= {"", "non_finite", "unsorted_x", "zero_x_range", "too_many_points",
                                 "too_few_points", "encoding_overflow"}


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_a_million_seeded_cases_agree(swift_encoder, version):
    result = differential.run(swift_encoder, cases=1_000_000, seed=0, version=version)
    assert result, result.render()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_mismatch_reproduction_is_runnable(version):
    m = differential.Mismatch(0, "", "unsorted_x", "codes differ",
                              [[1.5.hex(), (-0.0).hex()], ["0x1.0p+1", "nan"]], version)
    assert f"version={version}" in m.reproduction()
    namespace: dict = {}
    with pytest.raises(EncodingError, match="non_finite"):
        exec(m.reproduction(), namespace)
