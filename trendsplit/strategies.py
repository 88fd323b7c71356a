"""Hypothesis strategies for encoder inputs: realistic watch logs and adversarial inputs.

Shared by the tests (`tests/trendsplit/strategies.py` re-exports them) and the fuzz benchmarks.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from trendsplit.encoding import L

finite = st.floats(allow_nan=False, allow_infinity=False)
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
positive_scale = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
power_of_two = st.integers(-20, 20).map(lambda k: 2.0**k)
offset = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def watch_logs(draw, min_points: int = 2, max_points: int = L) -> np.ndarray:
    """A plausible log: irregular times (days, at an epoch-like or small origin), drift, noise, resets."""
    n = draw(st.integers(min_points, max_points))
    origin = draw(st.sampled_from([0.0, 19_000.0, 20_412.5, -3.0]))
    gaps = draw(st.lists(st.floats(1 / 1440, 5.0), min_size=n - 1, max_size=n - 1))
    x = origin + np.concatenate([[0.0], np.cumsum(gaps)])
    drift = draw(st.floats(-30.0, 30.0))
    y0 = draw(st.floats(-60.0, 60.0))
    noise = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=n, max_size=n)))
    y = y0 + drift * (x - x[0]) + noise
    if n > 3 and draw(st.booleans()):
        cut = draw(st.integers(1, n - 2))
        y[cut:] -= y[cut] - draw(st.floats(-2.0, 2.0))  # reset to correct time
    return np.column_stack([x, y])


@st.composite
def sorted_points(draw, min_points: int = 2, max_points: int = L,
                  elements=finite) -> np.ndarray:
    """Any finite values, x sorted (duplicates allowed): valid unless the range is zero or huge."""
    n = draw(st.integers(min_points, max_points))
    x = sorted(draw(st.lists(elements, min_size=n, max_size=n)))
    y = draw(st.lists(elements, min_size=n, max_size=n))
    return np.column_stack([np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)])


@st.composite
def any_points(draw) -> np.ndarray:
    """Anything the encoder may be handed as an [n, 2] array: 0-150 points, NaN, inf, unsorted."""
    n = draw(st.integers(0, 150))
    values = st.one_of(finite, non_finite, st.sampled_from([0.0, -0.0, 5e-324, 1e308]))
    flat = draw(st.lists(values, min_size=2 * n, max_size=2 * n))
    xy = np.array(flat, dtype=np.float64).reshape(n, 2)
    if n and draw(st.booleans()):
        xy[:, 0] = np.sort(xy[:, 0])
    return xy
