"""Per-asset market snapshot as of a time: the demo radar table (the signal engine builds on it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from levradar.domain.units import HOURS_PER_YEAR
from levradar.store import Store

LOOKBACK = timedelta(days=3)
FRESH = timedelta(hours=2)  # a venue's OI counts towards the total only if this recent
PRICE_VENUE_ORDER = ("binance", "bybit", "okx", "hyperliquid")


def newest_ts(store: Store) -> datetime | None:
    """The newest closed 1h candle's close time: the default 'now' of an offline store."""
    frame = store.read("candles", interval="1h", derived=False).select(pl.col("ts").max())
    ts = frame.item() if frame.height else None
    return ts + timedelta(hours=1) if ts is not None else None


def _venue_rank(venue: pl.Expr) -> pl.Expr:
    return venue.replace_strict(
        {v: i for i, v in enumerate(PRICE_VENUE_ORDER)}, default=len(PRICE_VENUE_ORDER)
    )


def snapshot(store: Store, as_of: datetime, assets: Sequence[str] | None = None) -> pl.DataFrame:
    """One row per asset: price, 24h return, realised vol, funding (8h, APR, OI-weighted), OI USD and 24h change."""
    start = as_of - LOOKBACK
    candles = store.read("candles", assets=assets, interval="1h", start=start, as_of=as_of)
    if candles.is_empty():
        return pl.DataFrame()
    price = _price_stats(candles, as_of)
    oi = _oi_stats(store.read("open_interest", assets=assets, start=start, as_of=as_of), as_of)
    funding = store.read("funding", assets=assets, start=as_of - timedelta(days=2), as_of=as_of)
    fund = _funding_stats(funding, oi)
    out = price.join(fund, on="asset", how="left").join(
        oi.group_by("asset").agg(
            pl.col("oi_usd").sum().alias("oi_usd"),
            pl.col("oi_usd_24h_ago").sum().alias("oi_usd_24h_ago"),
            pl.col("venue").sort().str.join(",").alias("oi_venues"),
        ),
        on="asset",
        how="left",
    )
    return (
        out.with_columns(oi_change_24h=pl.col("oi_usd") / pl.col("oi_usd_24h_ago") - 1.0, as_of=pl.lit(as_of))
        .drop("oi_usd_24h_ago")
        .sort("asset")
    )


def _price_stats(candles: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Price from the most trusted venue with a bar that closed within the last two hours."""
    per_venue = (
        candles.sort("ts")
        .group_by("asset", "venue")
        .agg(
            pl.col("close").last().alias("price"),
            pl.col("ts").last().alias("last_ts"),
            pl.col("close")
            .filter(pl.col("ts") <= pl.col("ts").last() - timedelta(hours=24))
            .last()
            .alias("close_24h_ago"),
            pl.col("close").log().diff().tail(24).std().alias("hourly_vol"),
        )
        .filter(pl.col("last_ts") + timedelta(hours=1) >= as_of - FRESH)
        .sort("asset", _venue_rank(pl.col("venue")))
    )
    return (
        per_venue.group_by("asset", maintain_order=True)
        .first()
        .select(
            "asset",
            "price",
            pl.col("venue").alias("price_venue"),
            (pl.col("price") / pl.col("close_24h_ago") - 1.0).alias("return_24h"),
            (pl.col("hourly_vol") * math.sqrt(HOURS_PER_YEAR)).alias("rv_24h"),
        )
    )


def _oi_stats(oi: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    schema = {"asset": pl.String, "venue": pl.String, "oi_usd": pl.Float64, "oi_usd_24h_ago": pl.Float64}
    if oi.is_empty():
        return pl.DataFrame(schema=schema)
    valued = oi.filter(pl.col("oi_usd").is_not_null()).sort("ts")
    return (
        valued.group_by("asset", "venue")
        .agg(
            pl.col("oi_usd").last(),
            pl.col("ts").last().alias("last_ts"),
            pl.col("oi_usd")
            .filter(pl.col("ts") <= pl.col("ts").last() - timedelta(hours=24))
            .last()
            .alias("oi_usd_24h_ago"),
        )
        .filter(pl.col("last_ts") >= as_of - FRESH)
        .select(list(schema))
    )


def _funding_stats(funding: pl.DataFrame, oi: pl.DataFrame) -> pl.DataFrame:
    """Latest settlement per venue, averaged across venues weighted by each venue's OI (equal if unknown)."""
    if funding.is_empty():
        return pl.DataFrame(
            schema={"asset": pl.String, "funding_rate_8h": pl.Float64, "funding_apr": pl.Float64}
        )
    latest = funding.sort("ts").group_by("asset", "venue").agg(pl.col("rate_8h").last(), pl.col("apr").last())
    latest = latest.join(oi.select("asset", "venue", "oi_usd"), on=["asset", "venue"], how="left")
    weight = pl.col("oi_usd").fill_null(0.0)
    weighted = (
        pl.when(weight.sum() > 0)
        .then((pl.col("rate_8h") * weight).sum() / weight.sum())
        .otherwise(pl.col("rate_8h").mean())
    )
    weighted_apr = (
        pl.when(weight.sum() > 0)
        .then((pl.col("apr") * weight).sum() / weight.sum())
        .otherwise(pl.col("apr").mean())
    )
    return latest.group_by("asset").agg(weighted.alias("funding_rate_8h"), weighted_apr.alias("funding_apr"))
