"""Shared Hypothesis strategies (defined in `trendsplit.strategies`, also used by the benchmarks)."""

from trendsplit.strategies import (  # noqa: F401
    any_points,
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
