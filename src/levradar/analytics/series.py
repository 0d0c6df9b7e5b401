"""Hourly, point-in-time series per market (venue × symbol) and per asset (venues aggregated).

Row ``t`` holds what was known at the instant ``t`` (an hour boundary): the close of the bar that ended at ``t``,
the latest funding settlement at or before ``t``, the latest OI sample within two hours before ``t``.

Bars are 1h where the store has them; a market (or a stretch of time) with only coarser candles (4h, 8h, 1d — a
common public export) gets a row at each coarse bar's close instead, and ``bar_hours`` says how long its bar was.
Returns over 4h/24h then need bars that close at those lags; realised volatility uses each bar's log return scaled
to one hour (÷ √bar_hours), so it keeps its unit; the liquidation model needs 1h bars (docs/signals.md §11).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics import _loops
from levradar.analytics.baseline import FloatArray
from levradar.analytics.venues import (
    BASIS_CODE,
    AssetHours,
    VenueRule,
    basis_names,
    float_column,
    float_columns,
    with_funding_weights,
)
from levradar.domain.records import DAY_US, HOUR_US
from levradar.domain.units import HOURS_PER_YEAR
from levradar.store import Store

BAR_INTERVALS = ("1h", "4h", "8h", "1d")  # the bars the radar reads, finest first
OI_STALE = timedelta(hours=2)
FUNDING_STALE = timedelta(hours=24)
PRICE_VENUE_ORDER = ("binance", "bybit", "okx", "hyperliquid")
VENUE_RANK = {venue: i for i, venue in enumerate(PRICE_VENUE_ORDER)}  # the price source: the first present
ANNUALISE = math.sqrt(HOURS_PER_YEAR)


HOUR = timedelta(hours=1)
BY = ["venue", "symbol"]
_BAR_VALUES = {  # a bar's price and traded USD (quote volume, else base volume at the close)
    "close": pl.col("close"),
    "high": pl.col("high"),
    "low": pl.col("low"),
    "volume_usd": pl.coalesce("volume_quote", pl.col("volume_base") * pl.col("close")),
}


def load_markets(
    store: Store,
    start: datetime,
    as_of: datetime,
    assets: Sequence[str] | None,
    venues: Sequence[str] | None = None,
    *,
    hourly: bool = False,
) -> pl.DataFrame:
    """One row per market and hour in ``[start, as_of]`` with price, funding and OI as known then (of ``venues``
    only, when given: nothing else is read); ``hourly``: what the liquidation model reads — the 1 h bars only
    (coarser candles are not read), only the columns it uses, no lagged features, sorted by market and hour."""
    if hourly:
        return _load_hourly(store, start, as_of, assets, venues)
    candles = store.read(
        "candles", assets=assets, venues=venues, start=start - timedelta(days=1), as_of=as_of
    )
    funding = store.read("funding", assets=assets, venues=venues, start=start - FUNDING_STALE, as_of=as_of)
    oi = store.read("open_interest", assets=assets, venues=venues, start=start - OI_STALE, as_of=as_of)
    return market_frame(candles, funding, oi).filter(pl.col("t") >= start)


def _load_hourly(
    store: Store, start: datetime, as_of: datetime, assets: Sequence[str] | None, venues: Sequence[str] | None
) -> pl.DataFrame:
    """:func:`load_markets` of the 1 h bars closing in ``[start, as_of]``: a 1 h candle is its hour's bar (the
    finest), so no bar choice is needed, and only the rows and columns the model reads are read (unordered:
    :func:`with_known` sorts)."""
    candles = store.read(
        "candles",
        assets=assets,
        venues=venues,
        start=start - HOUR,
        as_of=as_of,
        interval="1h",
        columns=[*BY, "asset", "ts", "close", "high", "low", "volume_base", "volume_quote"],
        ordered=False,
    )
    funding = store.read(
        "funding",
        assets=assets,
        venues=venues,
        start=start - FUNDING_STALE,
        as_of=as_of,
        columns=[*BY, "ts", "rate", "interval_hours"],
        ordered=False,
    )
    oi = store.read(
        "open_interest",
        assets=assets,
        venues=venues,
        start=start - OI_STALE,
        as_of=as_of,
        columns=[*BY, "ts", "oi_base", "oi_usd"],
        ordered=False,
    )
    base = candles.lazy().select(
        *BY, "asset", t=pl.col("ts") + HOUR, bar_hours=pl.lit(1, pl.Int32), **_BAR_VALUES
    )
    return with_known(base, funding, oi)


def bars(candles: pl.DataFrame) -> pl.DataFrame:
    """One bar per market and close time ``t``: the finest of the 1h/4h/8h/1d candles that close then."""
    hours = {k: v for k, v in zip(BAR_INTERVALS, (1, 4, 8, 24), strict=True)}
    return (
        candles.filter(pl.col("interval").is_in(list(BAR_INTERVALS)))
        .with_columns(bar_hours=pl.col("interval").replace_strict(hours, return_dtype=pl.Int32))
        .with_columns(t=pl.col("ts") + pl.duration(hours=pl.col("bar_hours")))
        .sort("venue", "symbol", "t", "bar_hours")
        .unique(subset=["venue", "symbol", "t"], keep="first", maintain_order=True)
    )


def with_known(
    base: pl.LazyFrame, funding: pl.DataFrame | pl.LazyFrame, oi: pl.DataFrame | pl.LazyFrame
) -> pl.DataFrame:
    """Bars with the funding rate (``rate_8h``) and the OI known at each close ``t`` — the latest settlement
    within :data:`FUNDING_STALE`, the latest OI sample within :data:`OI_STALE` — and ``key``; sorted by market and
    ``t``. One lazy pass on polars' in-memory engine (the streaming engine's start-up outweighs a map's few
    thousand rows)."""
    fund = funding.lazy().select(*BY, pl.col("ts").alias("t"), "rate_8h").sort(*BY, "t")
    ois = (
        oi.lazy()
        .filter(pl.col("oi_base").is_not_null())
        .select(*BY, pl.col("ts").alias("t"), "oi_base", "oi_usd")
        .sort(*BY, "t")
    )
    return (
        base.sort(*BY, "t")
        .join_asof(fund, on="t", by=BY, strategy="backward", tolerance=FUNDING_STALE, check_sortedness=False)
        .join_asof(ois, on="t", by=BY, strategy="backward", tolerance=OI_STALE, check_sortedness=False)
        .with_columns(key=pl.concat_str("venue", pl.lit(":"), "symbol"))
        .collect(engine="in-memory")
    )


def market_frame(candles: pl.DataFrame, funding: pl.DataFrame, oi: pl.DataFrame) -> pl.DataFrame:
    """Bars with the funding and OI known at each close, the 24 h traded USD and the 4 h / 24 h lags and OI changes
    the signals use."""
    base = with_known(bars(candles).lazy().select(*BY, "asset", "t", "bar_hours", **_BAR_VALUES), funding, oi)
    base = base.with_columns(
        volume_usd_24h=pl.col("volume_usd").rolling_sum_by("t", window_size="24h").over("key")
    )
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


def asset_frame(
    markets: pl.DataFrame, rule: VenueRule | None = None, layout: AssetHours | None = None
) -> pl.DataFrame:
    """Venues aggregated per asset and hour: OI summed (USD and coin, one-sided), funding weighted by the rule of
    ``analytics.venues`` (OI, else 24h traded USD; outliers capped), price from the most liquid venue; OI change
    over the venues present at both ends, so a venue joining is not a build-up.

    One compiled pass over the rows, grouped by (venue.AssetHours: ``layout`` when the caller has the rows' own).
    """
    layout = layout or AssetHours.of(markets)
    if "funding_weight" not in markets.columns:
        markets = with_funding_weights(markets, rule or VenueRule(), layout)
    # a market's venue is its key's: rank each market once, not each row
    venue_of_market = markets["venue"].gather(layout.first_row)
    rank = venue_of_market.replace_strict(
        VENUE_RANK, default=len(VENUE_RANK), return_dtype=pl.Int64
    ).to_numpy()
    oi_usd, oi_base, oi_base_lag4, oi_base_lag24, rate_8h, counted, weight = float_columns(
        markets,
        "oi_usd",
        "oi_base",
        "oi_base_lag4",
        "oi_base_lag24",
        "rate_8h",
        "funding_counted_8h",
        "funding_weight",
    )
    sums = _loops.asset_sums(
        layout.group,
        layout.n_groups,
        rank[layout.market],
        oi_usd,
        oi_base,
        oi_base_lag4,
        oi_base_lag24,
        rate_8h,
        counted,
        weight,
        markets["funding_outlier"].cast(pl.Int8).fill_null(-1).to_numpy(),
        markets["funding_basis"].replace_strict(BASIS_CODE, default=-1, return_dtype=pl.Int8).to_numpy(),
    )
    kept = np.flatnonzero(sums["rows"] > 0)  # groups with rows, in (asset, t) order
    picked = markets.select("close", "close_lag4", "close_lag24", "venue", "bar_hours")[sums["best"][kept]]

    def per_group(name: str) -> pl.Series:
        return pl.Series(name, sums[name][kept])

    then4, then24 = per_group("then4"), per_group("then24")
    frame = pl.DataFrame(
        {
            "asset": pl.Series(layout.assets, dtype=pl.String).gather(layout.group_asset[kept]),
            "t": pl.Series(layout.group_t[kept]).cast(pl.Datetime("us", "UTC")),
            "close": picked["close"],
            "close_lag4": picked["close_lag4"],
            "close_lag24": picked["close_lag24"],
            "price_venue": picked["venue"],
            "bar_hours": picked["bar_hours"],
            "oi_usd": per_group("oi_usd"),
            "oi_base": per_group("oi_base"),
            "oi_venues": per_group("oi_venues").cast(pl.UInt32),
            "price_venues": per_group("rows").cast(pl.UInt32),
            "funding_venues": per_group("funding_venues").cast(pl.UInt32),
            "funding_outliers": per_group("funding_outliers").cast(pl.UInt32),
            "funding_basis": basis_names(sums["basis"][kept]),
            "funding_dispersion_8h": pl.Series(
                sums["rate_max"][kept] - sums["rate_min"][kept], nan_to_null=True
            ),
            "rate_8h": per_group("rate_w"),
            "oi_roc_4h": per_group("now4") / then4 - 1.0,
            "oi_roc_24h": per_group("now24") / then24 - 1.0,
        }
    )
    return frame.with_columns(
        rate_8h=pl.when(pl.col("funding_venues") > 0).then(pl.col("rate_8h")),
        oi_roc_4h=pl.when(then4 > 0).then(pl.col("oi_roc_4h")),
        oi_roc_24h=pl.when(then24 > 0).then(pl.col("oi_roc_24h")),
        oi_usd=pl.when(pl.col("oi_venues") > 0).then(pl.col("oi_usd")),
        oi_base=pl.when(pl.col("oi_venues") > 0).then(pl.col("oi_base")),
        key=pl.col("asset"),
    )


def with_price_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Returns and realised volatility from the closes of each series (``key``): ``logret`` per hour (a bar's log
    return over the series' previous bar, ÷ √bar_hours, when that bar closed one bar earlier), ``rv_24h`` and
    ``rv_7d`` (the sample standard deviation of ``logret`` over the trailing 24 h / 7 d, annualised). Rows keep
    their order (a frame with repeated times per series comes back sorted by key and t)."""
    features = series_features(frame)
    if features is None:  # repeated times: the loop needs one row per series and time
        return _polars_price_features(frame.sort("key", "t"))
    return _with_features(frame, *features)


PRICE_HISTORY = timedelta(
    days=8
)  # the closes a new hour's features read: the 7-day window and the bar before it


class PriceHistory:
    """What the price features of a new hour read, kept as arrays: each key's times, closes and bar lengths over
    the trailing ``span`` (``PRICE_HISTORY``: the 7-day window and the bar before it, up to 1 d), by key then time.
    ``add`` folds in one hour's rows and gives them their features — ``with_price_features`` of the whole frame at
    that hour, by the same compiled pass over those series — without a polars query over the days kept (the live
    radar's step)."""

    def __init__(self, frame: pl.DataFrame, keys: list[str], span: timedelta = PRICE_HISTORY) -> None:
        self.keys, self.span_us = keys, span // timedelta(microseconds=1)
        self.code = {k: i for i, k in enumerate(keys)}
        rows = frame.filter(pl.col("key").is_in(keys)).sort("key", "t")
        self.key = np.fromiter(
            (self.code[k] for k in rows["key"].to_list()), dtype=np.int64, count=rows.height
        )
        self.t_us = rows["t"].dt.epoch("us").to_numpy().astype(np.int64)
        self.close = float_column(rows, "close")
        self.bar = _bar_hours(rows)

    def add(self, new: pl.DataFrame) -> pl.DataFrame:
        """``new`` (the rows of one later hour, at most one per key) with its price features, sorted by key; rows of
        a key it does not keep are left out."""
        keys = new["key"].to_list()
        if keys != sorted(keys):  # sorted already, mostly: no query
            new = new.sort("key")
            keys = new["key"].to_list()
        known = [k in self.code for k in keys]
        if not all(known):
            new = new.filter(pl.Series(known))
        t_new = new["t"].dt.epoch("us").to_numpy().astype(np.int64)
        if t_new.size and (np.any(t_new != t_new[0]) or (self.t_us.size and t_new[0] <= self.t_us.max())):
            raise ValueError("add expects the rows of one hour after every hour kept")
        codes = np.fromiter((self.code[k] for k in new["key"].to_list()), dtype=np.int64, count=new.height)
        if np.any(np.diff(codes) <= 0):
            raise ValueError("add expects at most one row per key")
        kept = self.t_us > (t_new[0] if t_new.size else 0) - self.span_us
        self.key, self.t_us, self.bar = self.key[kept], self.t_us[kept], self.bar[kept]
        self.close = self.close[kept]
        at = np.searchsorted(self.key, codes, side="right")  # after each key's last row
        self.key = np.insert(self.key, at, codes)
        self.t_us = np.insert(self.t_us, at, t_new)
        self.close = np.insert(self.close, at, float_column(new, "close"))
        self.bar = np.insert(self.bar, at, _bar_hours(new))
        starts = np.ones(self.key.size, dtype=np.bool_)
        starts[1:] = self.key[1:] != self.key[:-1]
        features = _compiled_features(starts, self.t_us, self.close, self.bar)
        rows = at + np.arange(at.size)  # where the new rows landed
        return _with_features(new, *(values[rows] for values in features))


def _bar_hours(frame: pl.DataFrame) -> npt.NDArray[np.int64]:
    if "bar_hours" not in frame.columns:
        return np.ones(frame.height, dtype=np.int64)
    return frame["bar_hours"].cast(pl.Int64).to_numpy()


def _compiled_features(
    starts: npt.NDArray[np.bool_],
    t_us: npt.NDArray[np.int64],
    close: FloatArray,
    bar_hours: npt.NDArray[np.int64],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``logret``, ``rv_24h``, ``rv_7d`` (not annualised) of rows by series then time (``starts``: each series'
    first row): one compiled pass."""
    logret, rv_24h, rv_7d = _loops.price_features(
        starts.view(np.uint8), t_us, close, bar_hours, 24 * HOUR_US, 7 * DAY_US
    )
    return logret, rv_24h, rv_7d


def series_features(frame: pl.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """``logret``, ``rv_24h`` and ``rv_7d`` (not annualised; NaN where none) of each row, in the frame's row
    order, by one compiled pass over each series; None when a series repeats a time."""
    columns = ["key", "t", "close", *(["bar_hours"] if "bar_hours" in frame.columns else [])]
    series, order = frame.select(columns), None
    runs = _series_starts(series)
    if runs is None:  # sort the four columns the loop reads, not the frame
        series = series.with_row_index("_row").sort("key", "t")
        order = series["_row"].to_numpy()
        runs = _series_starts(series)
        if runs is None:
            return None
    starts, t_us = runs
    logret, rv_24h, rv_7d = _compiled_features(
        starts, t_us, float_column(series, "close"), _bar_hours(series)
    )
    if order is not None:  # back to the frame's row order
        logret, rv_24h, rv_7d = (_scatter(v, order) for v in (logret, rv_24h, rv_7d))
    return logret, rv_24h, rv_7d


def _with_features(
    frame: pl.DataFrame, logret: FloatArray, rv_24h: FloatArray, rv_7d: FloatArray
) -> pl.DataFrame:
    return frame.with_columns(
        logret=pl.Series(logret, nan_to_null=True),
        ret_4h=pl.col("close") / pl.col("close_lag4") - 1.0,
        ret_24h=pl.col("close") / pl.col("close_lag24") - 1.0,
        rv_24h=pl.Series(rv_24h, nan_to_null=True) * ANNUALISE,
        rv_7d=pl.Series(rv_7d, nan_to_null=True) * ANNUALISE,
        apr=pl.col("rate_8h") * (HOURS_PER_YEAR / 8.0),
    )


def _scatter(values: FloatArray, rows: npt.NDArray[np.uint32]) -> FloatArray:
    out = np.empty_like(values)
    out[rows] = values
    return out


def _series_starts(frame: pl.DataFrame) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]] | None:
    """Where each series (``key``) starts and ``t`` in epoch µs, when each key's rows come together (one run per
    key) in strictly increasing ``t``; None otherwise."""
    run = frame["key"].rle_id().to_numpy()
    starts = np.diff(run, prepend=-1) != 0
    t_us = frame["t"].dt.epoch("us").to_numpy()
    one_run_per_key = frame["key"].filter(pl.Series(starts)).n_unique() == int(starts.sum())
    if one_run_per_key and bool(np.all((np.diff(t_us) > 0) | starts[1:])):
        return starts, t_us
    return None


def _polars_price_features(frame: pl.DataFrame) -> pl.DataFrame:
    """with_price_features as polars expressions (frames with repeated times)."""
    logret = (pl.col("close") / pl.col("close").shift(1).over("key")).log()
    bar = pl.duration(hours=pl.col("bar_hours")) if "bar_hours" in frame.columns else pl.duration(hours=1)
    contiguous = (pl.col("t") - pl.col("t").shift(1).over("key")) == bar
    per_hour = logret / (pl.col("bar_hours").cast(pl.Float64).sqrt() if "bar_hours" in frame.columns else 1.0)
    out = frame.with_columns(logret=pl.when(contiguous).then(per_hour))
    return out.with_columns(
        ret_4h=pl.col("close") / pl.col("close_lag4") - 1.0,
        ret_24h=pl.col("close") / pl.col("close_lag24") - 1.0,
        rv_24h=pl.col("logret").rolling_std_by("t", window_size="24h").over("key") * ANNUALISE,
        rv_7d=pl.col("logret").rolling_std_by("t", window_size="7d").over("key") * ANNUALISE,
        apr=pl.col("rate_8h") * (HOURS_PER_YEAR / 8.0),
    )
