"""Liquidation proximity every hour: the model's nearest dense pockets, as a regime, for scans, history and alerts.

**One book per hour, one definition.** The book at hour ``t`` is the liquidation model (docs/heatmap.md) run over
every venue with OI from the *anchor* ``A(t)`` — the first hour of ``t``'s UTC month minus ``model_days`` — through
``t``, on buckets fixed by the prices before the month began. ``scan``, ``history``, ``alerts replay``, ``evaluate``
and the live service therefore read the same pockets for the same hour; one run per market and month serves every
hour of that month (read as it goes: nothing after an hour enters its book).

Distance to the nearest pocket (either side) is measured in daily realised volatility (rv_24h / sqrt(365)) so that
"near" means the same thing for a quiet and a wild asset; labels and the 0..1 component that fragility and the
LSI use come from ``[liquidation]`` in signals.toml.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics.config import SignalConfig
from levradar.analytics.forecast import (
    SEASON_DAYS,
    BookAt,
    Forecast,
    HourlyVol,
    forced_flow_forecast,
    forced_flow_forecasts,
)
from levradar.analytics.heatmap import (
    HeatmapConfig,
    PocketRows,
    combine,
    nearest_pockets,
    pocket_json,
    pockets_by_row,
    price_edges,
    row_price,
    row_prices,
)
from levradar.analytics.liqmodel import (
    FloatArray,
    Heatmap,
    MarketBook,
    bucket_centers,
    model_inputs,
    new_positions,
)
from levradar.domain.records import DAY_US, from_us, utc_us

FORECAST_HORIZON = timedelta(hours=24)
PATH_SPAN = timedelta(days=SEASON_DAYS + 1)  # the closes the volatility forecast reads
MODEL_THREADS = 2  # assets modelled at once (hourly_reads)
GRID_HEADROOM = 1.25  # a run's buckets reach this far beyond the prices before its month (levels beyond drop)
HOUR_COLUMNS: dict[str, pl.DataType | type[pl.DataType]] = {
    "liq_proximity": pl.String,
    "c_liquidation_proximity": pl.Float64,
    "liq_distance_vol": pl.Float64,
    "liq_below_pct": pl.Float64,
    "liq_above_pct": pl.Float64,
    "liq_below_usd": pl.Float64,
    "liq_above_usd": pl.Float64,
    "liq_long_book_usd": pl.Float64,  # every modelled long level (USD): what a dump can consume
    "liq_short_book_usd": pl.Float64,
}


READ_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "asset": pl.String,
    "t": pl.Datetime("us", "UTC"),
    **HOUR_COLUMNS,
}


def read_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Hourly readings as a frame of ``READ_SCHEMA``, column by column; the hours go in as epoch µs (polars
    converts an aware datetime object ~6x slower, measured: most of the frame's cost)."""
    columns: dict[str, pl.Series] = {
        name: pl.Series(name, [r[name] for r in rows], dtype=dtype)
        for name, dtype in READ_SCHEMA.items()
        if name != "t"
    }
    t = pl.Series("t", [utc_us(r["t"]) for r in rows], dtype=pl.Int64).cast(READ_SCHEMA["t"])
    return pl.DataFrame([columns["asset"], t, *(columns[name] for name in HOUR_COLUMNS)])


@lru_cache(maxsize=8192)  # asked for every label hour of every asset
def anchor(t: datetime, days: int) -> datetime:
    """The start of the run whose book speaks for hour ``t``: the first hour of ``t``'s UTC month minus ``days``."""
    month = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if t == month:  # the month's first hour closes the last bar of the month before: it belongs to that month
        month = (month - timedelta(hours=1)).replace(day=1, hour=0)
    return month - timedelta(days=days)


def month_edges(
    rows: AssetRows, window: npt.NDArray[np.int64], start_us: int, days: int, heat: HeatmapConfig
) -> FloatArray | None:
    """The run's buckets, from the prices of its warm-up (before the month): nothing the month brings decides them.
    ``window``: the asset's rows of the run (by market, then time); without a warm-up, its first row decides."""
    t = rows.t_us[window]
    warm = (t > start_us) & (t <= start_us + days * DAY_US)
    if not warm.any():
        warm = np.zeros(t.size, dtype=np.bool_)
        warm[: min(1, t.size)] = True
    if not warm.any():
        return None
    low, high = np.nanmin(rows.low[window][warm]), np.nanmax(rows.high[window][warm])
    return price_edges(float(low) / GRID_HEADROOM, float(high) * GRID_HEADROOM, heat)


@dataclass(frozen=True)
class AssetRows:
    """One asset's hourly rows as arrays, by market (venue, symbol) then time: what the model and the volatility
    path read, converted once for every asset instead of a polars query per market and hour."""

    markets: list[tuple[str, str, slice]]  # (venue, symbol, its rows)
    t_us: npt.NDArray[np.int64]
    high: FloatArray
    low: FloatArray
    close: FloatArray
    oi_base: FloatArray
    oi_usd: FloatArray
    rate_8h: FloatArray  # 0 where missing (the model's fill)
    volume_usd: FloatArray  # 0 where missing

    @classmethod
    def split(cls, markets: pl.DataFrame, after: datetime | None = None) -> dict[str, AssetRows]:
        """Every asset's 1 h rows of a market frame (the model steps hour by hour: coarser bars do not feed it),
        those after ``after`` when given, in one sort and one conversion."""
        inputs = ["high", "low", "close", "oi_base", "oi_usd", "rate_8h", "volume_usd"]  # model_inputs' order
        kept = pl.col("bar_hours") == 1
        frame = markets.select(
            "asset", "venue", "symbol", "t", "bar_hours", *(c for c in inputs if c in markets.columns)
        ).filter(kept if after is None else kept & (pl.col("t") > after))
        t_us, starts = _market_runs(frame)
        if starts is None:  # not yet by market then time (a store read usually is: no sort then)
            frame = frame.sort("asset", "venue", "symbol", "t")
            t_us, starts = _market_runs(frame)
        assert starts is not None  # sorted rows are in order
        values = dict(
            zip(inputs, model_inputs(frame), strict=True)
        )  # the model's fills (NaN, or 0 for rate/volume)
        bounds = [*starts["i"].to_list(), frame.height]
        by_asset: dict[str, list[tuple[str, str, int, int]]] = {}
        for k, (asset, venue, symbol) in enumerate(starts.select("asset", "venue", "symbol").iter_rows()):
            by_asset.setdefault(asset, []).append((venue, symbol, bounds[k], bounds[k + 1]))
        result = {}
        for asset, runs in by_asset.items():
            lo, hi = runs[0][2], runs[-1][3]
            result[asset] = cls(
                [(v, s, slice(a - lo, b - lo)) for v, s, a, b in runs],
                t_us[lo:hi],
                values["high"][lo:hi],
                values["low"][lo:hi],
                values["close"][lo:hi],
                values["oi_base"][lo:hi],
                values["oi_usd"][lo:hi],
                values["rate_8h"][lo:hi],
                values["volume_usd"][lo:hi],
            )
        return result

    def window(self, market: slice, after_us: int, until_us: int) -> slice:
        """The market's rows with ``after_us < t <= until_us``."""
        t = self.t_us[market]
        lo = int(np.searchsorted(t, after_us, side="right"))
        hi = int(np.searchsorted(t, until_us, side="right"))
        return slice(market.start + lo, market.start + hi)

    def venues_with_oi(self, at_us: int) -> list[str]:
        """The venues with OI at ``at_us``, sorted."""
        held = set()
        for venue, _symbol, market in self.markets:
            at = self.window(market, at_us - 1, at_us)
            if at.stop > at.start and not np.isnan(self.oi_base[at.start]):
                held.add(venue)
        return sorted(held)

    def span(self, after_us: int, until_us: int) -> npt.NDArray[np.int64]:
        """Row indices of every market's rows with ``after_us < t <= until_us``, by market then time."""
        parts = [
            np.arange(w.start, w.stop)
            for w in (self.window(m, after_us, until_us) for _, _, m in self.markets)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _market_runs(frame: pl.DataFrame) -> tuple[npt.NDArray[np.int64], pl.DataFrame | None]:
    """``t`` in epoch µs and the first row of each market's run (``i``, asset, venue, symbol) when the rows are
    sorted by asset, venue, symbol, then strictly by time; None for the runs otherwise."""
    t_us = frame["t"].dt.epoch("us").to_numpy()
    new = pl.any_horizontal(pl.col(c) != pl.col(c).shift(1) for c in ("asset", "venue", "symbol"))
    flags = frame.select(new.fill_null(True))
    is_new = flags.to_series().to_numpy()
    starts = frame.select(pl.int_range(pl.len()).alias("i"), "asset", "venue", "symbol").filter(
        flags.to_series()
    )
    markets = starts.select("asset", "venue", "symbol").rows()
    ordered = all(a < b for a, b in pairwise(markets))  # each market once, in order
    if ordered and bool(np.all((np.diff(t_us) > 0) | is_new[1:])):
        return t_us, starts
    return t_us, None


class _Tape:
    """A 1-D array that grows at its end and is cut at its front, without a copy each hour (a buffer with room to
    spare, compacted when full)."""

    def __init__(self, values: npt.NDArray[Any]) -> None:
        self.buf = np.empty(2 * values.size + 64, dtype=values.dtype)
        self.buf[: values.size] = values
        self.lo, self.hi = 0, values.size

    @property
    def values(self) -> npt.NDArray[Any]:
        return self.buf[self.lo : self.hi]

    def push(self, value: float) -> None:
        if self.hi == self.buf.size:
            kept = self.values.copy()
            self.buf = np.empty(2 * kept.size + 64, dtype=kept.dtype)
            self.buf[: kept.size] = kept
            self.lo, self.hi = 0, kept.size
        self.buf[self.hi] = value
        self.hi += 1

    def cut(self, n: int) -> None:
        self.lo = min(self.lo + n, self.hi)

    def leading_at_most(self, limit: float) -> int:
        """How many values from the front are at most ``limit`` (values ascending): the few leaving a span, counted
        without a search over them all."""
        n, buf = self.lo, self.buf
        while n < self.hi and buf[n] <= limit:
            n += 1
        return n - self.lo


@dataclass
class _Path:
    """An asset's hourly closes (one venue per hour: the first by name) over the ``SEASON_DAYS + 1`` days up to
    ``end``, and once read their returns: all that the 24h volatility forecast reads. Advanced in place, one hour
    at a time."""

    end: datetime
    times: _Tape  # epoch seconds, ascending
    closes: _Tape
    returns: tuple[_Tape, _Tape, _Tape] | None = None  # each return's end (epoch s), value, UTC hour

    @classmethod
    def of(cls, rows: AssetRows, end: datetime) -> _Path:
        end_us = utc_us(end)
        recent = rows.span(end_us - PATH_SPAN // timedelta(microseconds=1), end_us)
        t = rows.t_us[recent]
        order = np.argsort(t, kind="stable")  # by time; at one hour the first market by (venue, symbol)
        first = np.ones(order.size, dtype=np.bool_)
        first[1:] = t[order][1:] != t[order][:-1]
        keep = recent[order][first]
        return cls(end, _Tape(rows.t_us[keep] // 1_000_000), _Tape(rows.close[keep]))

    def advance(self, hour: datetime, close: float | None) -> None:
        """One hour later: ``hour``'s close appended (none: a gap), the hours older than the span dropped; the
        returns (once read) slide along instead of being taken again."""
        at = utc_us(hour) // 1_000_000
        times, closes = self.times.values, self.closes.values
        if close is not None:
            if self.returns is not None and times.size:
                ends, values, hours = self.returns
                step = at - int(times[-1]) == 3600
                ends.push(at)
                values.push(math.log(close) - math.log(float(closes[-1])) if step else math.nan)
                hours.push(at // 3600 % 24)
            self.times.push(at)
            self.closes.push(close)
        first = self.times.leading_at_most(at - PATH_SPAN // timedelta(seconds=1))
        for tape in (self.times, self.closes, *(self.returns or ())):
            tape.cut(first)
        self.end = hour

    def vol(self) -> float | None:
        if self.returns is None:
            whole = HourlyVol(self.times.values.astype("datetime64[s]"), self.closes.values)
            self.returns = (_Tape(whole.end_s), _Tape(whole.r), _Tape(whole.hour))
        ends, values, hours = (tape.values for tape in self.returns)
        return HourlyVol.of_returns(ends, values, hours).at(self.end, FORECAST_HORIZON)


@dataclass
class _Run:
    start: datetime
    edges: FloatArray
    books: dict[tuple[str, str], MarketBook] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.centers = bucket_centers(self.edges)


@dataclass
class BookCache:
    """The live service's books and readings: one run per asset and month, advanced only by the hours that arrive
    (the same numbers as a fresh run over the same rows, tested). Each hour is read once, as known when first
    asked for; a new month starts a new run, an hour before the books' last one rebuilds them."""

    runs: dict[str, _Run] = field(default_factory=dict)
    reads: dict[datetime, dict[str, dict[str, Any]]] = field(default_factory=dict)  # hour -> asset -> reading
    asked: dict[datetime, set[str]] = field(default_factory=dict)  # hour -> assets read then (reading or not)
    last: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    # per asset, its price path up to its last hour read
    paths: dict[str, _Path] = field(default_factory=dict)

    def reading(self, asset: str, t: datetime) -> dict[str, Any] | None:
        return self.reads.get(t, {}).get(asset)

    def keep(self, asset: str, t: datetime, row: dict[str, Any]) -> None:
        self.reads.setdefault(t, {})[asset] = row

    def was_asked(self, asset: str, t: datetime) -> bool:
        return asset in self.asked.get(t, ())

    def mark_asked(self, asset: str, hours: Sequence[datetime]) -> None:
        for t in hours:
            self.asked.setdefault(t, set()).add(asset)

    def forget_before(self, t: datetime) -> None:
        """Drop readings of hours before ``t`` (a live service keeps only its label window): the hours that left,
        not every reading kept."""
        for book in (self.reads, self.asked):
            for hour in [h for h in book if h < t]:
                del book[hour]


def asset_maps(
    rows: AssetRows,
    asset: str,
    hours: Sequence[datetime],
    heat: HeatmapConfig,
    days: int,
    cache: BookCache | None = None,
) -> dict[datetime, tuple[Heatmap, int]]:
    """The asset's combined map at each of ``hours`` (its hourly rows of every market), as (map, row)."""
    out: dict[datetime, tuple[Heatmap, int]] = {}
    groups: dict[datetime, list[datetime]] = {}
    for h in sorted(hours):
        groups.setdefault(anchor(h, days), []).append(h)
    for start, wanted in groups.items():
        start_us, until_us = utc_us(start), utc_us(wanted[-1])
        run = cache.runs.get(asset) if cache is not None else None
        if run is None or run.start != start:
            edges = month_edges(rows, rows.span(start_us, until_us), start_us, days, heat)
            if edges is None:
                continue
            run = _Run(start, edges)
            if cache is not None:
                cache.runs[asset] = run
        wanted_at = {utc_us(h): h for h in wanted}
        wanted_us = np.fromiter(wanted_at, dtype=np.int64, count=len(wanted_at))
        maps = []
        for venue, symbol, market in rows.markets:
            part = rows.window(market, start_us, until_us)
            if np.isnan(rows.oi_base[part]).all():
                continue
            book = run.books.get((venue, symbol))
            if book is None or (book.last_t is not None and book.last_t >= wanted[0]):
                book = run.books[(venue, symbol)] = MarketBook(run.edges, heat)
            if book.last_t is not None:
                part = rows.window(market, utc_us(book.last_t), until_us)
            if part.stop <= part.start:
                continue
            t = rows.t_us[part]
            marks = np.isin(t, wanted_us)
            kept = [wanted_at[int(x)] for x in t[marks]]
            mapped = book.fold(
                (from_us(int(t[0])), from_us(int(t[-1])), kept),
                marks,
                rows.high[part],
                rows.low[part],
                rows.close[part],
                rows.oi_base[part],
                rows.oi_usd[part],
                rows.rate_8h[part],
                rows.volume_usd[part],
            )
            if mapped.times:
                maps.append(mapped)
        if not maps:
            continue
        hm = combine(maps)
        for i, t_i in enumerate(hm.times):
            out[t_i] = (hm, i)
    return out


def hourly_reads(
    markets: pl.DataFrame,
    hours: Sequence[datetime],
    rv: pl.DataFrame,
    cfg: SignalConfig,
    heat: HeatmapConfig,
    cache: BookCache | None = None,
) -> tuple[pl.DataFrame, dict[str, dict[str, Any]]]:
    """Per asset and hour of ``hours``: proximity label, component, distance in daily vols and the nearest pockets'
    distance and USD (``HOUR_COLUMNS``); and, per asset, the full reading at the last hour (the scan's JSON)."""
    days = int(cfg.value("liquidation", "model_days"))
    rv_at = {  # keyed by epoch µs: hashing an aware datetime asks its zone for the offset every time
        (a, t): v
        for a, t, v in rv.select("asset", pl.col("t").dt.epoch("us"), "rv_24h").iter_rows()
        if v is not None
    }
    cache = cache if cache is not None else BookCache()
    rows: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    end = max(hours) if hours else None
    # the rows any run reads: from the earliest anchor, and the volatility path's span before the last hour
    after = min([anchor(h, days) for h in hours] + [end - PATH_SPAN]) if end is not None else None

    def one(item: tuple[str, AssetRows]) -> None:
        name, asset_rows = item
        _read_asset(name, asset_rows, hours, end, rv_at, cfg, heat, days, cache)

    # assets two at a time: the model's loop and the pocket search release the GIL (compiled), and each asset
    # touches only its own entries of the cache; the output keeps the assets' order
    split = AssetRows.split(markets, after)
    with ThreadPoolExecutor(MODEL_THREADS) as pool:
        list(pool.map(one, split.items()))
    for name in split:
        rows.extend(r for r in (cache.reading(name, h) for h in hours) if r is not None)
        if end is not None and name in cache.last and cache.last[name][0] == end:
            last[name] = cache.last[name][1]
    return read_frame(rows), last


def _read_asset(
    name: str,
    asset_rows: AssetRows,
    hours: Sequence[datetime],
    end: datetime | None,
    rv_at: dict[tuple[str, int], float],
    cfg: SignalConfig,
    heat: HeatmapConfig,
    days: int,
    cache: BookCache,
) -> None:
    """One asset's readings at ``hours`` into ``cache`` (its reads, and its full reading at ``end``)."""
    todo = [h for h in hours if not cache.was_asked(name, h)]
    if end is not None and end in todo:
        cache.paths[name] = _Path.of(asset_rows, end)
    maps = asset_maps(asset_rows, name, todo, heat, days, cache)
    by_map: dict[int, tuple[Heatmap, list[datetime]]] = {}
    for t, (hm, _i) in sorted(maps.items()):
        by_map.setdefault(id(hm), (hm, []))[1].append(t)
    read: dict[datetime, dict[str, Any] | None] = {}
    for hm, times in by_map.values():
        index = [maps[t][1] for t in times]
        vols = [rv_at.get((name, utc_us(t))) for t in times]
        read.update(zip(times, _rows(hm, index, heat, cfg, name, vols), strict=True))
    for t, (hm, i) in sorted(maps.items()):
        row = read[t]
        if row is None:
            continue
        cache.keep(name, t, row)
        if t == end:
            venue_list = asset_rows.venues_with_oi(utc_us(end))
            last = i in (-1, len(hm.times) - 1)
            pockets = nearest_pockets(hm, heat, i, (hm.long_tiers, hm.short_tiers) if last else None)
            book = BookAt(hm.edges, hm.long_usd[i], hm.short_usd[i])
            path = cache.paths[name]
            forecast = forced_flow_forecast(book, row_price(hm, i), path.vol(), FORECAST_HORIZON)
            reading = _reading(row, pockets, forecast, days, venue_list, path.end)
            cache.last[name] = (t, reading)
    cache.mark_asked(name, todo)


def _rows(
    hm: Heatmap,
    index: Sequence[int],
    heat: HeatmapConfig,
    cfg: SignalConfig,
    asset: str,
    rv: Sequence[float | None],
) -> list[dict[str, Any] | None]:
    """The proximity of rows ``index`` of ``hm`` (``rv``: each one's rv_24h): None for a row without a pocket on
    either side or without a volatility to measure it in."""
    rows = np.asarray(index, dtype=np.int64)
    every_row = rows.size == len(hm.times) and bool(np.all(rows == np.arange(rows.size)))
    books = (hm.long_usd, hm.short_usd) if every_row else (hm.long_usd[rows], hm.short_usd[rows])
    vol = np.asarray([math.nan if v is None else v for v in rv], dtype=np.float64)
    reads, _, _ = _proximity(
        [asset] * rows.size,
        [hm.times[r] for r in rows.tolist()],
        row_prices(hm, rows),
        books,
        hm.centers,
        vol,
        heat,
        cfg,
    )
    return reads


def _proximity(
    assets: Sequence[str],
    times: Sequence[datetime],
    prices: FloatArray,
    books: tuple[FloatArray, FloatArray],
    centers: FloatArray,
    rv: FloatArray,
    heat: HeatmapConfig,
    cfg: SignalConfig,
) -> tuple[list[dict[str, Any] | None], PocketRows, PocketRows]:
    """Each row's proximity reading (rows: hours of one asset's map, or one hour of many assets; ``books``: their
    long and short USD by bucket, ``centers`` the buckets' prices, shared or a row each, ``rv`` the rv_24h, NaN
    where none), None for a row without a pocket on either side or without a volatility to measure it in; and
    both sides' pockets. Both sides' pockets for all rows in one pass, the distances and labels as arrays."""
    labels = list(cfg.value("liquidation", "labels"))
    bounds = np.asarray([float(b) for b in cfg.value("liquidation", "boundaries")])
    span = float(cfg.value("liquidation", "component_span"))
    longs, shorts = books
    above = pockets_by_row(shorts, centers, prices, True, heat.pocket_quantile)
    below = pockets_by_row(longs, centers, prices, False, heat.pocket_quantile)
    long_book, short_book = longs.sum(axis=1), shorts.sum(axis=1)
    with np.errstate(invalid="ignore"):
        daily = np.where(rv > 0, rv / math.sqrt(365.0), np.nan)
    nearest = np.minimum(
        np.where(above.found, np.abs(above.distance_pct) / 100.0, np.inf),
        np.where(below.found, np.abs(below.distance_pct) / 100.0, np.inf),
    )
    in_vol = nearest / daily
    read = np.isfinite(nearest) & ~np.isnan(daily)
    label = np.searchsorted(bounds, in_vol, side="right")
    component = np.clip(1.0 - in_vol / span, 0.0, 1.0)

    def side(p: PocketRows, values: FloatArray) -> list[float | None]:
        return [v if found else None for v, found in zip(values.tolist(), p.found.tolist(), strict=True)]

    columns = zip(
        assets,
        times,
        read.tolist(),
        label.tolist(),
        component.tolist(),
        in_vol.tolist(),
        side(below, below.distance_pct),
        side(above, above.distance_pct),
        side(below, below.usd),
        side(above, above.usd),
        long_book.tolist(),
        short_book.tolist(),
        strict=True,
    )
    reads = [
        {
            "asset": asset,
            "t": t,
            "liq_proximity": labels[k],
            "c_liquidation_proximity": c,
            "liq_distance_vol": v,
            "liq_below_pct": below_pct,
            "liq_above_pct": above_pct,
            "liq_below_usd": below_usd,
            "liq_above_usd": above_usd,
            "liq_long_book_usd": long_usd,
            "liq_short_book_usd": short_usd,
        }
        if ok
        else None
        for asset, t, ok, k, c, v, below_pct, above_pct, below_usd, above_usd, long_usd, short_usd in columns
    ]
    return reads, above, below


def _reading(
    row: dict[str, Any],
    pockets: dict[str, dict[str, object] | None],
    forecast: Forecast,
    days: int,
    venues: list[str],
    end: datetime,
) -> dict[str, Any]:
    """The scan's liquidation block at ``end``: the nearest pockets (with their leverage mix), the venues with OI
    then, the expected forced flow of the next 24 h (the book there at the price, the volatility of the asset's
    recent closes)."""
    return {
        "proximity": row["liq_proximity"],
        "component": row["c_liquidation_proximity"],
        "distance_in_daily_vol": row["liq_distance_vol"],
        "nearest_above": pockets["nearest_above"],
        "nearest_below": pockets["nearest_below"],
        "venues": venues,
        "model_days": days,
        "run_from": anchor(end, days),
        "forecast_24h": forecast.to_json(),
    }


def advance_hour(
    cache: BookCache,
    new: pl.DataFrame,
    hour: datetime,
    rv_at: dict[tuple[str, datetime], float],
    cfg: SignalConfig,
    heat: HeatmapConfig,
) -> pl.DataFrame | None:
    """The live step of :func:`hourly_reads`: fold ``hour``'s rows (``new``, every market's row of that hour) into
    the books and read every asset at ``hour`` — the same numbers, touching one row per market: every market's new
    positions at once, its book by the compiled step, each asset's map summed in place, every asset's pockets by
    one compiled pass. None when an asset needs the full path instead (a new month's run, a market with OI but no
    book yet, books not at the hour before); the caller then runs ``hourly_reads`` over the window."""
    days = int(cfg.value("liquidation", "model_days"))
    start = anchor(hour, days)
    rows = new.filter(pl.col("bar_hours") == 1).sort("asset", "venue", "symbol")
    assets = rows["asset"].unique(maintain_order=True).to_list()
    for name in assets:
        run, path = cache.runs.get(name), cache.paths.get(name)
        if run is None or run.start != start or cache.was_asked(name, hour) or path is None:
            return None
        if path.end >= hour:
            return None
    high, low, close, oi, oi_usd, rate, volume = model_inputs(rows)
    keys = list(zip(rows["asset"].to_list(), rows["venue"].to_list(), rows["symbol"].to_list(), strict=True))
    books = [cache.runs[name].books.get((venue, symbol)) for name, venue, symbol in keys]
    has_oi = ~np.isnan(oi)
    for book, with_oi in zip(books, has_oi.tolist(), strict=True):
        if (book is None and with_oi) or (
            book is not None and book.last_t is not None and book.last_t >= hour
        ):
            return None
    prev_oi = np.asarray([math.nan if b is None else b.last_oi for b in books])
    prev_close = np.asarray([math.nan if b is None else b.last_close for b in books])
    new_usd, long_share = new_positions(prev_oi, prev_close, (high, low, close, oi, rate, volume), heat)
    modelled = {name for (name, _, _), book in zip(keys, books, strict=True) if book is not None}
    maps = _HourMaps([name for name in assets if name in modelled], heat.buckets)
    for j, ((name, _venue, _symbol), book) in enumerate(zip(keys, books, strict=True)):
        if book is None:
            continue
        one = slice(j, j + 1)
        lg, sg, _reserve = book.fold_flows(
            (hour, hour, [hour]),
            _ONE,
            high[one],
            low[one],
            close[one],
            oi[one],
            oi_usd[one],
            new_usd[one],
            long_share[one],
        )
        maps.add(name, book, cache.runs[name], lg[0], sg[0], float(close[j]))
    rv = np.asarray([rv_at.get((name, hour), math.nan) for name in maps.assets], dtype=np.float64)
    reads, above, below = _proximity(
        maps.assets,
        [hour] * len(maps.assets),
        maps.price,
        (maps.long_usd, maps.short_usd),
        maps.centers,
        rv,
        heat,
        cfg,
    )
    closes: dict[str, float] = {}
    venues: dict[str, list[str]] = {}
    for (name, venue, _symbol), c, with_oi in zip(keys, close.tolist(), has_oi.tolist(), strict=True):
        closes.setdefault(name, c)  # the first venue by name: the path's close
        if with_oi:
            venues.setdefault(name, []).append(venue)
    for name in assets:
        cache.paths[name].advance(hour, closes.get(name))
        cache.mark_asked(name, [hour])
    read = [a for a, row in enumerate(reads) if row is not None]
    forecasts = forced_flow_forecasts(
        maps.centers[read],
        maps.long_usd[read],
        maps.short_usd[read],
        maps.price[read].tolist(),
        [cache.paths[maps.assets[a]].vol() for a in read],
        FORECAST_HORIZON,
    )
    out: list[dict[str, Any]] = []
    for a, forecast in zip(read, forecasts, strict=True):
        name, row = maps.assets[a], reads[a]
        assert row is not None
        cache.keep(name, hour, row)
        pockets = {
            "nearest_above": pocket_json(above, a, maps.band_usd(a, above, long_side=False), heat.leverage),
            "nearest_below": pocket_json(below, a, maps.band_usd(a, below, long_side=True), heat.leverage),
        }
        venue_list = sorted(venues.get(name, []))
        cache.last[name] = (hour, _reading(row, pockets, forecast, days, venue_list, hour))
        out.append(row)
    return read_frame(out)


_ONE = np.ones(1, dtype=np.bool_)


class _HourMaps:
    """One hour's map of each asset (its markets' books summed in market order, as ``liqmodel.combine`` sums them)
    as rows of stacked arrays, with the books behind each row for the pockets' leverage mix."""

    def __init__(self, assets: list[str], buckets: int) -> None:
        self.assets = assets
        self.slot = {name: a for a, name in enumerate(assets)}
        self.books: list[list[MarketBook]] = [[] for _ in assets]
        self.centers = np.ones((len(assets), buckets))
        self.long_usd, self.short_usd = np.zeros((len(assets), buckets)), np.zeros((len(assets), buckets))
        self.price = np.full(len(assets), math.nan)

    def add(
        self,
        name: str,
        book: MarketBook,
        run: _Run,
        long_usd: FloatArray,
        short_usd: FloatArray,
        close: float,
    ) -> None:
        """A market's book of the hour onto its asset's row (the asset's first market sets the price)."""
        a = self.slot[name]
        if not self.books[a]:
            self.centers[a], self.price[a] = run.centers, close
        self.books[a].append(book)
        self.long_usd[a] += long_usd
        self.short_usd[a] += short_usd

    def band_usd(self, a: int, found: PocketRows, long_side: bool) -> FloatArray:
        """USD by band within row ``a``'s pocket (``found``), summed over the asset's books."""
        if not found.found[a]:
            return np.zeros(0)
        run = slice(int(found.first[a]), int(found.last[a]) + 1)
        by_band = np.zeros(0)
        for book in self.books[a]:
            part = book.tiers(run, long_side)
            by_band = part if not by_band.size else by_band + part
        return np.asarray(by_band.sum(axis=1), dtype=np.float64)
