"""Shared Hypothesis strategies (defined in `trendsplit.strategies`, also used by the benchmarks)."""

import numpy as np
from hypothesis import strategies as st

from trendsplit.strategies import (  # noqa: F401
    any_points,
    build_frame,
    differential_cases,
    epoch_logs,
    extreme_points,
    finite,
    frames,
    non_finite,
    offset,
    positive_scale,
    power_of_two,
    sorted_points,
    watch_logs,
)


def _series(records: list[bytes]) -> list[np.ndarray]:
    xy, lengths = build_frame(records)
    return [xy[k, : lengths[k]].copy() for k in range(len(lengths))]


def series_lists(max_series: int = 8) -> st.SearchStrategy[list[np.ndarray]]:
    """1..max_series [n, 2] series from one frame: watch logs in every unit, wild magnitudes, raw bit patterns,
    edge values and deliberate breaks (`build_frame`). A draw per series where `st.lists(watch_logs())` makes
    one per point: the batch-against-single tests cost a tenth as much at the same number of examples."""
    return frames(max_series=max_series).map(_series)
