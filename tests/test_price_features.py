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
    PriceHistory,
    _polars_price_features,
    with_price_features,
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
def test_a_new_hour_gets_the_features_of_the_whole_frame(seed: int, n_keys: int, gap_share: float) -> None:
    """The live radar keeps each series' last 7 days as arrays and adds one hour at a time: each hour's rows get
    exactly the features the whole frame gives them (keys missing some hours, 4 h bars here and there)."""
    frame = _series(seed, n_keys, 260, gap_share)
    whole = with_price_features(frame)
    keys = sorted(frame["key"].unique().to_list())
    first = DAY0 + 200 * HOUR
    history = PriceHistory(frame.filter(pl.col("t") <= first), keys)  # the span the live radar keeps
    for h in range(201, 260):
        hour = DAY0 + h * HOUR
        got = history.add(frame.filter(pl.col("t") == hour).sample(fraction=1.0, shuffle=True, seed=h))
        expected = whole.filter(pl.col("t") == hour).sort("key")
        assert_frame_equal(got, expected)


def test_the_price_history_refuses_an_hour_out_of_order_and_leaves_unknown_keys_out() -> None:
    frame = _series(3, 2, 48, 0.0)
    last = frame["t"].max()
    history = PriceHistory(frame.filter(pl.col("t") < last), ["k0", "k1"], timedelta(days=7))
    with pytest.raises(ValueError, match="one hour after"):
        history.add(frame.filter(pl.col("t") == last - HOUR))
    rows = frame.filter(pl.col("t") == last)
    alien = rows.head(1).with_columns(key=pl.lit("k9"))
    got = history.add(pl.concat([rows, alien]))
    assert got["key"].to_list() == ["k0", "k1"]
