"""Hourly, point-in-time series per market (venue × symbol) and per asset (venues aggregated).

Row ``t`` holds what was known at the instant ``t`` (an hour boundary): the close of the 1h bar that ended at
``t``, the latest funding settlement at or before ``t``, the latest OI sample within two hours before ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from levradar.domain.units import HOURS_PER_YEAR
from levradar.store import Store

OI_STALE = timedelta(hours=2)
FUNDING_STALE = timedelta(hours=24)
PRICE_VENUE_ORDER = ("binance", "bybit", "okx", "hyperliquid")
ANNUALISE = math.sqrt(HOURS_PER_YEAR)


def load_markets(
    store: Store, start: datetime, as_of: datetime, assets: Sequence[str] | None
) -> pl.DataFrame:
    """One row per market and hour in ``[start, as_of]`` with price, funding and OI as known then."""
    candles = store.read(
        "candles", assets=assets, interval="1h", start=start - timedelta(hours=1), as_of=as_of
    )
    funding = store.read("funding", assets=assets, start=start - FUNDING_STALE, as_of=as_of)
    oi = store.read("open_interest", assets=assets, start=start - OI_STALE, as_of=as_of)
    return market_frame(candles, funding, oi)


def market_frame(candles: pl.DataFrame, funding: pl.DataFrame, oi: pl.DataFrame) -> pl.DataFrame:
    by = ["venue", "symbol"]
    base = candles.select(
        *by, "asset", (pl.col("ts") + timedelta(hours=1)).alias("t"), "close", "high", "low"
    ).sort(*by, "t")
    fund = funding.select(*by, pl.col("ts").alias("t"), "rate_8h").sort(*by, "t")
    base = base.join_asof(
        fund, on="t", by=by, strategy="backward", tolerance=FUNDING_STALE, check_sortedness=False
    )
    ois = oi.filter(pl.col("oi_base").is_not_null()).select(*by, pl.col("ts").alias("t"), "oi_base", "oi_usd")
    base = base.join_asof(
        ois.sort(*by, "t"), on="t", by=by, strategy="backward", tolerance=OI_STALE, check_sortedness=False
    )
    base = base.with_columns(key=pl.concat_str("venue", pl.lit(":"), "symbol"))
    base = _with_lags(base, "key", ["close", "oi_base"], (4, 24))
    return base.with_columns(
        oi_roc_4h=pl.col("oi_base") / pl.col("oi_base_lag4") - 1.0,
        oi_roc_24h=pl.col("oi_base") / pl.col("oi_base_lag24") - 1.0,
    )


def _with_lags(frame: pl.DataFrame, key: str, cols: list[str], hours: Sequence[int]) -> pl.DataFrame:
    """``<col>_lag<h>``: the value ``h`` hours earlier in the same series (null across gaps)."""
    for h in hours:
        lagged = frame.select(
            key,
            (pl.col("t") + timedelta(hours=h)).alias("t"),
            *(pl.col(c).alias(f"{c}_lag{h}") for c in cols),
        )
        frame = frame.join(lagged, on=[key, "t"], how="left")
    return frame


def _venue_rank() -> pl.Expr:
    ranks = {v: i for i, v in enumerate(PRICE_VENUE_ORDER)}
    return pl.col("venue").replace_strict(ranks, default=len(PRICE_VENUE_ORDER), return_dtype=pl.Int32)


def asset_frame(markets: pl.DataFrame) -> pl.DataFrame:
    """Venues aggregated per asset and hour: OI summed (USD and coin), funding OI-weighted, price from the most
    liquid venue; OI change over the venues present at both ends, so a venue joining is not a build-up."""
    m = markets.with_columns(rank=_venue_rank())
    both4 = pl.col("oi_base").is_not_null() & pl.col("oi_base_lag4").is_not_null()
    both24 = pl.col("oi_base").is_not_null() & pl.col("oi_base_lag24").is_not_null()
    has_oi = pl.col("oi_usd").is_not_null()
    weight = pl.when(has_oi).then(pl.col("oi_usd"))
    agg = m.group_by("asset", "t").agg(
        pl.col("close").sort_by("rank").first().alias("close"),
        pl.col("close_lag4").sort_by("rank").first().alias("close_lag4"),
        pl.col("close_lag24").sort_by("rank").first().alias("close_lag24"),
        pl.col("venue").sort_by("rank").first().alias("price_venue"),
        pl.col("oi_usd").sum().alias("oi_usd"),
        pl.col("oi_base").sum().alias("oi_base"),
        has_oi.sum().alias("oi_venues"),
        (pl.col("oi_base").filter(both4).sum() / pl.col("oi_base_lag4").filter(both4).sum() - 1.0).alias(
            "oi_roc_4h"
        ),
        (pl.col("oi_base").filter(both24).sum() / pl.col("oi_base_lag24").filter(both24).sum() - 1.0).alias(
            "oi_roc_24h"
        ),
        _weighted_funding(weight).alias("rate_8h"),
        (pl.col("rate_8h").max() - pl.col("rate_8h").min()).alias("funding_dispersion_8h"),
    )
    agg = agg.with_columns(
        oi_usd=pl.when(pl.col("oi_venues") > 0).then(pl.col("oi_usd")),
        oi_base=pl.when(pl.col("oi_venues") > 0).then(pl.col("oi_base")),
        key=pl.col("asset"),
    )
    return agg.sort("asset", "t")


def _weighted_funding(weight: pl.Expr) -> pl.Expr:
    """OI-weighted funding; venues without OI weigh as much as the average venue with OI (all equal if none)."""
    rate = pl.col("rate_8h")
    w = pl.when(rate.is_not_null()).then(weight.fill_null(weight.mean()).fill_null(1.0))
    return pl.when(w.sum() > 0).then((rate * w).sum() / w.sum())


def with_price_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Returns and realised volatility from the hourly closes of each series (``key``)."""
    logret = (pl.col("close") / pl.col("close").shift(1).over("key")).log()
    gap = (pl.col("t") - pl.col("t").shift(1).over("key")) != timedelta(hours=1)
    out = frame.sort("key", "t").with_columns(logret=pl.when(gap).then(None).otherwise(logret))
    return out.with_columns(
        ret_4h=pl.col("close") / pl.col("close_lag4") - 1.0,
        ret_24h=pl.col("close") / pl.col("close_lag24") - 1.0,
        rv_24h=pl.col("logret").rolling_std_by("t", window_size="24h").over("key") * ANNUALISE,
        rv_7d=pl.col("logret").rolling_std_by("t", window_size="7d").over("key") * ANNUALISE,
        apr=pl.col("rate_8h") * (HOURS_PER_YEAR / 8.0),
    )
