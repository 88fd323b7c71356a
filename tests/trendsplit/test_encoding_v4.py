"""Encoding v4: v3's channels unchanged, plus the posterior's log-odds of a break after each reading."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trendsplit.strategies import any_points, series_lists, sorted_points, watch_logs
from trendsplit import data, errors, posterior
from trendsplit.encoding import CHANNELS, L, encode, encode_padded

#: The posterior costs about 0.1 s a log: a tenth of the profile's examples.
FEWER = settings(max_examples=max(10, settings.default.max_examples // 10))


@FEWER
@given(st.one_of(watch_logs(), sorted_points(), any_points()))
def test_v4_keeps_v3s_channels_and_rules(points):
    try:
        v3 = encode(points, 3)
    except errors.EncodingError as err:
        with pytest.raises(type(err)):
            encode(points, 4)
        return
    v4 = encode(points, 4)
    assert v4.shape == (CHANNELS[4], L)
    assert np.array_equal(v4[:7].view(np.uint32), v3.view(np.uint32))


@FEWER
@given(st.one_of(watch_logs(), sorted_points()))
def test_the_posterior_channel_is_the_log_odds_rounded_once_then_zeros(points):
    try:
        v4 = encode(points, 4)
    except errors.EncodingError:
        return
    n = len(points)
    expected = posterior.break_log_odds(np.asarray(points, dtype=np.float64) + 0.0).astype(np.float32)
    assert np.array_equal(v4[7, : n - 1].view(np.uint32), expected.view(np.uint32))
    assert not v4[7, n - 1 :].view(np.uint32).any()  # +0.0: the last reading and the padding


def test_a_planted_reset_reads_as_a_certain_break_and_the_rest_as_none():
    rng = np.random.default_rng(3)
    days = 20_000.0 + np.cumsum(rng.uniform(0.3, 1.5, 30))
    y = np.where(np.arange(30) < 12, 25.0 + 4.0 * (days - days[0]), 0.5 + 4.2 * (days - days[12]))
    y = y + rng.normal(0.0, 1.0, 30)
    post = encode(np.column_stack([days, y]), 4)[7]
    assert post[11] == posterior.ODDS_LIMIT
    assert np.delete(post[:29], 11).max() < -2.0  # p < 0.12 everywhere else


def test_epoch_seconds_are_past_what_a_watch_gives_and_read_as_nothing():
    """x in Unix seconds spans 86,400 times the days: past MAX_SPAN, so the channel stays 0 (the model was
    trained on days; v2's DX channel has the same unit hazard)."""
    log = data.watch_log(np.random.default_rng(4), n=30)
    seconds = log.points * np.array([data.DAY_SECONDS, 1.0])
    assert not encode(seconds, 4)[7].any()
    assert encode(log.points, 4)[7, :29].any()


@FEWER
@given(series_lists(max_series=4))
def test_padded_batch_and_single_encoders_agree_bit_for_bit(examples):
    width = max(max(len(e) for e in examples), 1)
    xy = np.zeros((len(examples), width, 2))
    for k, e in enumerate(examples):
        xy[k, : len(e)] = e
    batch = encode_padded(xy, np.array([len(e) for e in examples]), 4)
    for k, e in enumerate(examples):
        try:
            single = encode(e, 4)
        except errors.EncodingError as err:
            assert batch.codes[k] == err.code and not batch.values[k].any()
            continue
        assert batch.codes[k] == "" and np.array_equal(batch.values[k].view(np.uint32), single.view(np.uint32))
