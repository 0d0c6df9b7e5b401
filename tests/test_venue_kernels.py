"""The compiled (asset, hour) loops (analytics/_venues.pyx) against plain group-by transcriptions of the same rule,
on real market rows with random gaps, missing rates and missing OI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levradar.analytics.baseline import MAD_TO_SIGMA
from levradar.analytics.config import load_config
from levradar.analytics.series import PRICE_VENUE_ORDER, asset_frame, load_markets
from levradar.analytics.venues import VenueRule, with_funding_weights
from levradar.ingest.run import import_source
from levradar.store import Store

RULE = VenueRule.from_config(load_config())
END = datetime(2025, 10, 11, 6, tzinfo=UTC)  # the window holds the 2025-10-10 cascade: outliers are flagged


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pl.DataFrame]:
    with Store(tmp_path_factory.mktemp("kernels") / "store") as store:
        import_source(store, "sample", Path("."))
        yield load_markets(store, END - timedelta(days=10), END, ["SOL", "BTC", "ETH"])


def _reference_weights(markets: pl.DataFrame) -> pl.DataFrame:
    """venues.py's rule as polars group-bys over (asset, t) (the spread z comes from the code under test: it is a
    per-market baseline, not a group statistic)."""
    by = ["asset", "t"]
    rate = pl.col("rate_8h")
    m = markets.with_columns(_median=rate.median().over(by), _n=rate.count().over(by))
    m = m.with_columns(_spread=rate - pl.col("_median"))
    m = m.with_columns(
        _band=RULE.outlier_z
        * pl.max_horizontal(
            MAD_TO_SIGMA * pl.col("_spread").abs().median().over(by), pl.lit(RULE.spread_floor_8h)
        )
    )
    z = with_funding_weights(markets, RULE)["funding_spread_z"]
    quoted = rate.is_not_null()
    outlier = (
        quoted
        & (pl.col("_n") >= RULE.outlier_min_venues)
        & (pl.col("_z").abs() >= RULE.outlier_z).fill_null(False)
        & (pl.col("_spread").abs() >= pl.col("_band"))
    )
    lacks_oi = (quoted & ~(pl.col("oi_usd") > 0).fill_null(False)).sum().over(by)
    lacks_volume = (quoted & ~(pl.col("volume_usd_24h") > 0).fill_null(False)).sum().over(by)
    m = m.with_columns(_z=z).with_columns(_out=outlier, _all_oi=lacks_oi == 0, _all_volume=lacks_volume == 0)
    raw = (
        pl.when(pl.col("_all_oi"))
        .then("oi_usd")
        .when(pl.col("_all_volume"))
        .then("volume_usd_24h")
        .otherwise(1.0)
    )
    m = m.with_columns(_w=pl.when(quoted).then(raw).otherwise(0.0))
    kept = pl.when(pl.col("_out")).then(0.0).otherwise(pl.col("_w")).sum().over(by)
    cap = RULE.outlier_weight_cap
    m = m.with_columns(
        _w=pl.when(pl.col("_out") & (kept > 0))
        .then(pl.min_horizontal("_w", kept * cap / (1 - cap)))
        .otherwise("_w")
    )
    total = pl.col("_w").sum().over(by)
    return m.select(
        funding_spread_8h=pl.col("_spread"),
        funding_outlier=pl.when(quoted).then(pl.col("_out")),
        funding_weight=pl.when(quoted & (total > 0)).then(pl.col("_w") / total),
        funding_counted_8h=pl.when(pl.col("_out"))
        .then(pl.col("_median") + pl.col("_spread").clip(-pl.col("_band"), pl.col("_band")))
        .otherwise(rate),
        funding_basis=pl.when(~quoted)
        .then(None)
        .when(pl.col("_all_oi"))
        .then(pl.lit("oi"))
        .when(pl.col("_all_volume"))
        .then(pl.lit("volume"))
        .otherwise(pl.lit("equal")),
    )


def _reference_assets(markets: pl.DataFrame) -> pl.DataFrame:
    """series.asset_frame as one polars group-by over (asset, t)."""
    ranks = {v: i for i, v in enumerate(PRICE_VENUE_ORDER)}
    m = markets.with_columns(
        rank=pl.col("venue").replace_strict(ranks, default=len(ranks), return_dtype=pl.Int32)
    )
    best = pl.col("rank").arg_min()
    both4 = pl.col("oi_base").is_not_null() & pl.col("oi_base_lag4").is_not_null()
    both24 = pl.col("oi_base").is_not_null() & pl.col("oi_base_lag24").is_not_null()
    rate = pl.col("rate_8h")
    sums = m.group_by("asset", "t").agg(
        pl.col("close").get(best),
        pl.col("close_lag4").get(best),
        pl.col("close_lag24").get(best),
        pl.col("venue").get(best).alias("price_venue"),
        pl.col("bar_hours").get(best),
        pl.col("oi_usd").sum(),
        pl.col("oi_base").sum(),
        pl.col("oi_usd").count().alias("oi_venues"),
        pl.len().alias("price_venues"),
        rate.count().alias("funding_venues"),
        pl.col("funding_outlier").sum().alias("funding_outliers"),
        pl.col("funding_basis").drop_nulls().first(),
        (rate.max() - rate.min()).alias("funding_dispersion_8h"),
        (pl.col("funding_counted_8h") * pl.col("funding_weight")).sum().alias("rate_8h"),
        (pl.when(both4).then("oi_base").sum() / pl.when(both4).then("oi_base_lag4").sum()).alias("_r4"),
        pl.when(both4).then("oi_base_lag4").sum().alias("_then4"),
        (pl.when(both24).then("oi_base").sum() / pl.when(both24).then("oi_base_lag24").sum()).alias("_r24"),
        pl.when(both24).then("oi_base_lag24").sum().alias("_then24"),
    )
    return (
        sums.with_columns(
            rate_8h=pl.when(pl.col("funding_venues") > 0).then("rate_8h"),
            oi_roc_4h=pl.when(pl.col("_then4") > 0).then(pl.col("_r4") - 1.0),
            oi_roc_24h=pl.when(pl.col("_then24") > 0).then(pl.col("_r24") - 1.0),
            oi_usd=pl.when(pl.col("oi_venues") > 0).then("oi_usd"),
            oi_base=pl.when(pl.col("oi_venues") > 0).then("oi_base"),
            key=pl.col("asset"),
        )
        .drop(pl.selectors.starts_with("_"))
        .sort("asset", "t")
    )


def _equal(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Equal frames; floats to 1e-12 relative (a group's sum may add its rows in another order)."""
    assert got.height == want.height
    for name in want.columns:
        a, b = got[name], want[name]
        assert a.dtype == b.dtype, name
        assert a.is_null().to_list() == b.is_null().to_list(), name
        if a.dtype.is_float():
            np.testing.assert_allclose(
                a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy(), rtol=1e-12, atol=0
            )
        else:
            assert a.to_list() == b.to_list(), name


def _mutated(real: pl.DataFrame, seed: int, drop: float, no_rate: float, no_oi: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = real.height
    frame = real.filter(pl.Series(rng.random(n) >= drop))
    k = frame.height
    return frame.with_columns(
        rate_8h=pl.when(pl.Series(rng.random(k) < no_rate)).then(None).otherwise("rate_8h"),
        oi_usd=pl.when(pl.Series(rng.random(k) < no_oi)).then(None).otherwise("oi_usd"),
        oi_base=pl.when(pl.Series(rng.random(k) < no_oi)).then(None).otherwise("oi_base"),
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    drop=st.sampled_from([0.0, 0.05, 0.5]),
    no_rate=st.sampled_from([0.0, 0.1, 0.6]),
    no_oi=st.sampled_from([0.0, 0.1, 0.6]),
)
def test_the_compiled_loops_equal_the_group_bys(
    real: pl.DataFrame, seed: int, drop: float, no_rate: float, no_oi: float
) -> None:
    frame = _mutated(real, seed, drop, no_rate, no_oi)
    weighted = with_funding_weights(frame, RULE)
    _equal(weighted.select(_reference_weights(frame).columns), _reference_weights(frame))
    _equal(asset_frame(weighted), _reference_assets(weighted))


def test_the_cascade_flags_a_venue_in_the_compared_window(real: pl.DataFrame) -> None:
    """The real window behind the comparison holds flagged venues, so the outlier branch is compared too."""
    assert with_funding_weights(real, RULE)["funding_outlier"].sum() > 0


def test_two_rows_of_one_market_at_one_time_are_refused(real: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="more than one row for a market"):
        with_funding_weights(pl.concat([real, real.head(1)]), RULE)
