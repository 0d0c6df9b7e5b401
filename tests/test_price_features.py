"""The compiled price features (_loops.price_features via series.with_price_features) against their polars
transcription (series._polars_price_features), on random series with gaps, coarse bars and shuffled rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from levradar.analytics.series import (
    PRICE_SERIES,
    _polars_price_features,
    with_price_features,
    with_price_features_at,
)

HOUR = timedelta(hours=1)
DAY0 = datetime(2025, 3, 1, tzinfo=UTC)
FEATURES = ["logret", "ret_4h", "ret_24h", "rv_24h", "rv_7d", "apr"]


def _series(seed: int, n_keys: int, hours: int, gap_share: float) -> pl.DataFrame:
    """Random-walk closes per key, one row per present hour (``gap_share`` of hours missing), 4 h bars here and
    there, lags as the market frame gives them."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_keys):
        present = rng.random(hours) >= gap_share
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, hours)))
        t = [DAY0 + i * HOUR for i in range(hours)]
        frame = pl.DataFrame(
            {
                "key": [f"k{k}"] * hours,
                "t": t,
                "close": close,
                "bar_hours": np.where(rng.random(hours) < 0.05, 4, 1),
                "rate_8h": rng.normal(0.0001, 0.0001, hours),
            },
            schema_overrides={"t": pl.Datetime("us", "UTC")},
        )
        lags = {f"close_lag{h}": pl.col("close").shift(h) for h in (4, 24)}
        parts.append(frame.with_columns(**lags).filter(pl.Series(present)))
    return pl.concat(parts)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_keys=st.integers(1, 4),
    hours=st.integers(1, 400),
    gap_share=st.sampled_from([0.0, 0.1, 0.5]),
    shuffle=st.booleans(),
)
def test_the_compiled_features_equal_the_polars_ones(
    seed: int, n_keys: int, hours: int, gap_share: float, shuffle: bool
) -> None:
    frame = _series(seed, n_keys, hours, gap_share)
    if shuffle:  # keys interleaved and times out of order: the features come back in the rows' order
        frame = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    got = with_price_features(frame)
    assert got.select("key", "t").equals(frame.select("key", "t"))
    expected = _polars_price_features(frame.sort("key", "t"))
    got = got.sort("key", "t")
    # the loop keeps running sums (shifted by the series' first return), polars its own: equal to rounding, which
    # for a window of two nearly equal returns (a tiny variance) is ~1e-5 of it, ~1e-9 of a typical annualised vol
    assert_frame_equal(
        got.select(FEATURES), expected.select(FEATURES), check_exact=False, rel_tol=1e-6, abs_tol=1e-8
    )


def test_a_repeated_time_takes_the_polars_path() -> None:
    frame = _series(1, 2, 48, 0.0)
    doubled = pl.concat([frame, frame.head(3)])
    got = with_price_features(doubled)
    assert got.height == doubled.height
    assert_frame_equal(got, _polars_price_features(doubled.sort("key", "t")))


def test_a_key_split_in_two_runs_is_still_one_series() -> None:
    frame = _series(2, 2, 60, 0.1)
    first, second = (
        frame.filter(pl.col("t") < DAY0 + 30 * HOUR),
        frame.filter(pl.col("t") >= DAY0 + 30 * HOUR),
    )
    split = pl.concat([first, second])  # k0, k1, k0, k1: each key in two runs
    got = with_price_features(split).sort("key", "t")
    assert_frame_equal(got, with_price_features(frame).sort("key", "t"))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_keys=st.integers(1, 4), gap_share=st.sampled_from([0.0, 0.1, 0.5]))
def test_the_features_of_a_new_hour_equal_those_of_the_whole_frame(
    seed: int, n_keys: int, gap_share: float
) -> None:
    """The live step reads only each series' key, time, close and bar length: the new hour's features equal the
    whole frame's at that hour (a key without a row at that hour is not in the new rows)."""
    frame = _series(seed, n_keys, 200, gap_share)
    hour = frame["t"].max()
    new = frame.filter(pl.col("t") == hour).sort("key")
    history = frame.select(PRICE_SERIES).sort("key", "t")
    got = with_price_features_at(new, history)
    expected = with_price_features(frame).filter(pl.col("t") == hour).sort("key")
    assert_frame_equal(got, expected)


def test_a_new_row_missing_from_the_history_is_refused() -> None:
    frame = _series(3, 2, 48, 0.0)
    hour = frame["t"].max()
    new = frame.filter(pl.col("t") == hour).sort("key")
    history = frame.filter(pl.col("t") < hour).select(PRICE_SERIES).sort("key", "t")
    with pytest.raises(ValueError, match="history must end"):
        with_price_features_at(new, history)
