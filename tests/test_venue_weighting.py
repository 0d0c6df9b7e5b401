"""How venues combine into one asset (analytics/venues.py), on the bundled real sample.

The 2025-10-10 cascade: from 21:00 to 23:00 UTC Hyperliquid's SOL funding printed -1.17 % to -1.92 % per 8h while
Binance, Bybit and OKX stayed near zero; from 2025-10-11 00:00 the other venues went deeply negative as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from levradar.analytics.config import load_config
from levradar.analytics.scan import scan
from levradar.analytics.series import asset_frame, load_markets
from levradar.analytics.venues import SpreadBaseline, VenueRule, with_funding_weights
from levradar.ingest.run import import_source
from levradar.store import Store

RULE = VenueRule.from_config(load_config())
QUIET_END = datetime(2025, 10, 10, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("weights") / "store") as s:
        import_source(s, "sample", Path("."))
        yield s


@pytest.fixture(scope="module")
def quiet(store: Store) -> pl.DataFrame:
    """Twelve real days of every venue's SOL and BTC rows before the cascade."""
    return load_markets(store, QUIET_END - timedelta(days=12), QUIET_END, ["SOL", "BTC"])


def venues_of(read: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["venue"]: v["funding"] for v in read["venues"]}


@pytest.mark.parametrize("hour", [21, 22, 23])
def test_one_venue_does_not_set_the_regime(store: Store, hour: int) -> None:
    when = datetime(2025, 10, 10, hour, tzinfo=UTC)
    sol = next(r for r in scan(store, when, ["SOL"], liquidation=False))
    funding, venues = sol["funding"], venues_of(sol)
    assert funding["weighting"]["outliers"] == ["hyperliquid"]
    hl = venues["hyperliquid"]
    assert hl["rate_8h"] < -0.005 and hl["outlier"] and abs(hl["spread_z"]) >= RULE.outlier_z
    assert hl["weight"] <= RULE.outlier_weight_cap + 1e-4
    others = [v["rate_8h"] for name, v in venues.items() if name != "hyperliquid"]
    assert min(others) - 0.0005 <= hl["counted_8h"] <= max(others) + 0.0005  # limited to the others' band
    weights = funding["weighting"]["weights"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    expected = sum(weights[name] * v["counted_8h"] for name, v in venues.items())
    assert funding["rate_8h"] == pytest.approx(expected, abs=5e-8)  # weights are given to 4 decimals
    assert funding["regime"] != "Deep Negative"
    assert abs(funding["rate_8h"]) < 0.0001  # the venues holding the market were near zero


def test_a_market_wide_move_flags_no_venue(store: Store) -> None:
    sol = scan(store, datetime(2025, 10, 11, 2, tzinfo=UTC), ["SOL"], liquidation=False)[0]
    assert sol["funding"]["weighting"]["outliers"] == []
    assert sol["funding"]["regime"] == "Deep Negative" and sol["funding"]["rate_8h"] < -0.001


def test_oi_weights_where_every_venue_has_oi(store: Store) -> None:
    """2026-02-20: every venue has one-sided OI; the weights are the OI shares."""
    btc = scan(store, datetime(2026, 2, 20, 12, tzinfo=UTC), ["BTC"], liquidation=False)[0]
    weighting = btc["funding"]["weighting"]
    assert weighting["basis"] == "oi"
    oi = {v["venue"]: v["oi"]["usd"] for v in btc["venues"]}
    total = sum(oi.values())
    for venue, weight in weighting["weights"].items():
        assert weight == pytest.approx(oi[venue] / total, abs=2e-4)


def test_weights_sum_to_one_and_the_rate_stays_inside_the_venues(quiet: pl.DataFrame) -> None:
    weighted = with_funding_weights(quiet, RULE)
    per_hour = (
        weighted.filter(pl.col("rate_8h").is_not_null())
        .group_by("asset", "t")
        .agg(
            pl.col("funding_weight").sum().alias("w"),
            pl.col("rate_8h").min().alias("lo"),
            pl.col("rate_8h").max().alias("hi"),
        )
    )
    assert (per_hour["w"] - 1.0).abs().max() < 1e-9  # type: ignore[operator]
    assets = asset_frame(weighted).join(per_hour, on=["asset", "t"])
    inside = (pl.col("rate_8h") >= pl.col("lo") - 1e-15) & (pl.col("rate_8h") <= pl.col("hi") + 1e-15)
    assert assets.filter(~inside).is_empty()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    venue=st.sampled_from(["binance", "bybit", "okx", "hyperliquid"]),
    asset=st.sampled_from(["SOL", "BTC"]),
    hours_back=st.integers(0, 48),
    magnitude=st.floats(0.005, 0.04),
    sign=st.sampled_from([-1.0, 1.0]),
)
def test_no_single_venue_sets_the_asset_rate(
    quiet: pl.DataFrame, venue: str, asset: str, hours_back: int, magnitude: float, sign: float
) -> None:
    """Whatever one venue prints (here 0.5 %..4 % per 8h, up to the venues' caps), the asset's funding stays
    within the band of the other venues' rates widened by at most the outlier band."""
    hour = QUIET_END - timedelta(hours=hours_back)
    at = (pl.col("asset") == asset) & (pl.col("t") == hour)
    target = at & (pl.col("venue") == venue)
    frame = quiet.with_columns(
        rate_8h=pl.when(target).then(pl.lit(sign * magnitude)).otherwise(pl.col("rate_8h"))
    )
    weighted = with_funding_weights(frame, RULE)
    rows = weighted.filter(at & pl.col("rate_8h").is_not_null())
    if rows.height < RULE.outlier_min_venues or rows.filter(pl.col("venue") == venue).is_empty():
        return  # fewer than three venues quote then: no venue can be singled out (documented)
    others = rows.filter(pl.col("venue") != venue)["rate_8h"]
    flagged = rows.filter(pl.col("venue") == venue).row(0, named=True)
    assert flagged["funding_outlier"], flagged
    rate = asset_frame(weighted).filter((pl.col("asset") == asset) & (pl.col("t") == hour))["rate_8h"].item()
    band = RULE.outlier_z * 1.4826 * float(
        (others - others.median()).abs().median() or 0.0
    ) + RULE.outlier_z * (RULE.spread_floor_8h)
    lo, hi = float(others.min()), float(others.max())  # type: ignore[arg-type]
    assert lo - band <= rate <= hi + band


def test_one_hour_weighed_with_its_days_spread_baseline_equals_the_whole_frame(store: Store) -> None:
    """The live radar weighs its new hour alone, against the venues' spread baselines of that hour's day (kept once
    a day): the same spreads, z, flags and weights as weighing every row at once — over a UTC midnight, through the
    2025-10-10 cascade."""
    rule = VenueRule.from_config(load_config())
    end = datetime(2025, 10, 11, 3, tzinfo=UTC)
    markets = load_markets(store, end - timedelta(days=rule.outlier_window_days + 2), end, None).sort("t")
    whole = with_funding_weights(markets, rule)
    columns = [
        "funding_spread_8h",
        "funding_spread_z",
        "funding_outlier",
        "funding_weight",
        "funding_counted_8h",
    ]
    checked = 0
    for hour in (end - timedelta(hours=k) for k in range(6)):
        day_us = int(hour.replace(hour=0).timestamp() * 1_000_000)
        kept = markets.filter(
            pl.col("t") > hour - timedelta(days=rule.outlier_window_days + 1), pl.col("t") <= hour
        )
        baseline = SpreadBaseline.of(kept, rule, day_us)
        rows = markets.filter(pl.col("t") == hour)
        one = with_funding_weights(rows, rule, baseline=baseline).sort("key")
        expected = whole.filter(pl.col("t") == hour).sort("key")
        assert_frame_equal(one.select(columns), expected.select(columns), check_exact=False, rel_tol=1e-12)
        checked += int(one["funding_spread_z"].is_not_null().sum())
    assert checked > 0
    with pytest.raises(ValueError, match="one UTC day"):
        with_funding_weights(markets.filter(pl.col("t") == end - timedelta(days=2)), rule, baseline=baseline)
