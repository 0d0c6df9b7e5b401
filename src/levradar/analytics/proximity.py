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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics.config import SignalConfig
from levradar.analytics.forecast import SEASON_DAYS, BookAt, HourlyVol, forced_flow_forecast, hour_stamps
from levradar.analytics.heatmap import (
    HeatmapConfig,
    combine,
    nearest_pockets,
    pockets_by_row,
    price_edges,
    row_price,
)
from levradar.analytics.liqmodel import FloatArray, Heatmap, MarketBook, model_inputs

FORECAST_HORIZON = timedelta(hours=24)
PATH_SPAN = timedelta(days=SEASON_DAYS + 1)  # the closes the volatility forecast reads
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


def anchor(t: datetime, days: int) -> datetime:
    """The start of the run whose book speaks for hour ``t``: the first hour of ``t``'s UTC month minus ``days``."""
    month = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if t == month:  # the month's first hour closes the last bar of the month before: it belongs to that month
        month = (month - timedelta(hours=1)).replace(day=1, hour=0)
    return month - timedelta(days=days)


def month_edges(frame: pl.DataFrame, start: datetime, days: int, heat: HeatmapConfig) -> FloatArray | None:
    """The run's buckets, from the prices of its warm-up (before the month): nothing the month brings decides them."""
    warm = frame.filter((pl.col("t") > start) & (pl.col("t") <= start + timedelta(days=days)))
    if warm.is_empty():
        warm = frame.filter(pl.col("t") > start).head(1)
    if warm.is_empty():
        return None
    low, high = float(warm["low"].min()), float(warm["high"].max())  # type: ignore[arg-type]
    return price_edges(low / GRID_HEADROOM, high * GRID_HEADROOM, heat)


@dataclass
class _Path:
    """An asset's hourly closes (one venue per hour: the first by name) over the ``SEASON_DAYS + 1`` days up to
    ``end``: all that the 24h volatility forecast reads."""

    end: datetime
    times: npt.NDArray[np.datetime64]
    closes: FloatArray

    @classmethod
    def of(cls, frame: pl.DataFrame, end: datetime) -> _Path:
        recent = frame.filter((pl.col("t") > end - PATH_SPAN) & (pl.col("t") <= end))
        path = recent.sort("t", "venue").unique(subset=["t"], keep="first", maintain_order=True)
        return cls(end, hour_stamps(path["t"]), path["close"].cast(pl.Float64).to_numpy())

    def then(self, hour: datetime, close: float | None) -> _Path:
        """The path one hour later: ``hour``'s close appended (none: a gap), the oldest hour dropped."""
        times, closes = self.times, self.closes
        if close is not None:
            times = np.append(times, np.datetime64(hour.replace(tzinfo=None), "s"))
            closes = np.append(closes, close)
        keep = times > np.datetime64((hour - PATH_SPAN).replace(tzinfo=None), "s")
        return _Path(hour, times[keep], closes[keep])

    def vol(self) -> float | None:
        return HourlyVol(self.times, self.closes).at(self.end, FORECAST_HORIZON)


@dataclass
class _Run:
    start: datetime
    edges: FloatArray
    books: dict[tuple[str, str], MarketBook] = field(default_factory=dict)


@dataclass
class BookCache:
    """The live service's books and readings: one run per asset and month, advanced only by the hours that arrive
    (the same numbers as a fresh run over the same rows, tested). Each hour is read once, as known when first
    asked for; a new month starts a new run, an hour before the books' last one rebuilds them."""

    runs: dict[str, _Run] = field(default_factory=dict)
    reads: dict[tuple[str, datetime], dict[str, Any]] = field(default_factory=dict)
    asked: set[tuple[str, datetime]] = field(default_factory=set)
    last: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    # per asset, its price path up to its last hour read
    paths: dict[str, _Path] = field(default_factory=dict)

    def forget_before(self, t: datetime) -> None:
        """Drop readings of hours before ``t`` (a live service keeps only its label window)."""
        self.reads = {k: v for k, v in self.reads.items() if k[1] >= t}
        self.asked = {k for k in self.asked if k[1] >= t}


def asset_maps(
    frame: pl.DataFrame,
    asset: str,
    hours: Sequence[datetime],
    heat: HeatmapConfig,
    days: int,
    cache: BookCache | None = None,
) -> dict[datetime, tuple[Heatmap, int]]:
    """The asset's combined map at each of ``hours`` (hourly rows of every market of the asset), as (map, row)."""
    out: dict[datetime, tuple[Heatmap, int]] = {}
    groups: dict[datetime, list[datetime]] = {}
    for h in sorted(hours):
        groups.setdefault(anchor(h, days), []).append(h)
    for start, wanted in groups.items():
        window = frame.filter((pl.col("t") > start) & (pl.col("t") <= wanted[-1]))
        run = cache.runs.get(asset) if cache is not None else None
        if run is None or run.start != start:
            edges = month_edges(window, start, days, heat)
            if edges is None:
                continue
            run = _Run(start, edges)
            if cache is not None:
                cache.runs[asset] = run
        maps = []
        for (venue, symbol), part in window.group_by(["venue", "symbol"], maintain_order=True):
            if part["oi_base"].drop_nulls().is_empty():
                continue
            key = (str(venue), str(symbol))
            book = run.books.get(key)
            if book is None or (book.last_t is not None and book.last_t >= wanted[0]):
                book = run.books[key] = MarketBook(run.edges, heat)
            new = part.filter(pl.col("t") > book.last_t) if book.last_t is not None else part
            if new.is_empty():
                continue
            mapped = book.advance(new, at=wanted)
            if mapped.times:
                maps.append(mapped)
        if not maps:
            continue
        hm = combine(maps)
        for i, t in enumerate(hm.times):
            out[t] = (hm, i)
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
    # the model steps hour by hour: coarser bars do not feed it
    hourly = markets.filter(pl.col("bar_hours") == 1)
    rv_at = {(a, t): v for a, t, v in rv.select("asset", "t", "rv_24h").iter_rows() if v is not None}
    cache = cache if cache is not None else BookCache()
    rows: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    end = max(hours) if hours else None
    for (asset,), frame in hourly.sort("asset", "venue", "symbol", "t").group_by(
        ["asset"], maintain_order=True
    ):
        name = str(asset)
        todo = [h for h in hours if (name, h) not in cache.asked]
        if end is not None and end in todo:
            cache.paths[name] = _Path.of(frame, end)
        maps = asset_maps(frame, name, todo, heat, days, cache)
        by_map: dict[int, tuple[Heatmap, list[datetime]]] = {}
        for t, (hm, _i) in sorted(maps.items()):
            by_map.setdefault(id(hm), (hm, []))[1].append(t)
        read: dict[datetime, dict[str, Any] | None] = {}
        for hm, times in by_map.values():
            index = [maps[t][1] for t in times]
            vols = [rv_at.get((name, t)) for t in times]
            read.update(zip(times, _rows(hm, index, heat, cfg, name, vols), strict=True))
        for t, (hm, i) in sorted(maps.items()):
            row = read[t]
            if row is None:
                continue
            cache.reads[(name, t)] = row
            if t == end:
                venues = frame.filter((pl.col("t") == end) & pl.col("oi_base").is_not_null())["venue"]
                venue_list = venues.unique().sort().to_list()
                cache.last[name] = (t, _reading(hm, i, heat, row, days, venue_list, cache.paths[name]))
        cache.asked.update((name, h) for h in todo)
        rows.extend(cache.reads[(name, h)] for h in hours if (name, h) in cache.reads)
        if end is not None and name in cache.last and cache.last[name][0] == end:
            last[name] = cache.last[name][1]
    return pl.DataFrame(rows, schema=READ_SCHEMA), last


def _rows(
    hm: Heatmap,
    index: Sequence[int],
    heat: HeatmapConfig,
    cfg: SignalConfig,
    asset: str,
    rv: Sequence[float | None],
) -> list[dict[str, Any] | None]:
    """The proximity of rows ``index`` of ``hm`` (``rv``: each one's rv_24h): None for a row without a pocket on
    either side or without a volatility to measure it in. Both sides' pockets for all rows in one pass."""
    labels = list(cfg.value("liquidation", "labels"))
    bounds = np.asarray([float(b) for b in cfg.value("liquidation", "boundaries")])
    span = float(cfg.value("liquidation", "component_span"))
    rows = np.asarray(index, dtype=np.int64)
    prices = np.asarray([row_price(hm, int(i)) for i in rows], dtype=np.float64)
    centers = hm.centers
    above = pockets_by_row(hm.short_usd[rows], centers, prices, True, heat.pocket_quantile)
    below = pockets_by_row(hm.long_usd[rows], centers, prices, False, heat.pocket_quantile)
    long_book, short_book = hm.long_usd[rows].sum(axis=1), hm.short_usd[rows].sum(axis=1)
    out: list[dict[str, Any] | None] = []
    for k, rv_24h in enumerate(rv):
        daily = rv_24h / math.sqrt(365.0) if rv_24h and rv_24h > 0 else None
        distances = [abs(float(p.distance_pct[k])) / 100.0 for p in (above, below) if p.found[k]]
        if not distances or daily is None:
            out.append(None)
            continue
        in_vol = min(distances) / daily
        out.append(
            {
                "asset": asset,
                "t": hm.times[int(rows[k])],
                "liq_proximity": labels[int(np.searchsorted(bounds, in_vol, side="right"))],
                "c_liquidation_proximity": max(0.0, min(1.0, 1.0 - in_vol / span)),
                "liq_distance_vol": in_vol,
                "liq_below_pct": float(below.distance_pct[k]) if below.found[k] else None,
                "liq_above_pct": float(above.distance_pct[k]) if above.found[k] else None,
                "liq_below_usd": float(below.usd[k]) if below.found[k] else None,
                "liq_above_usd": float(above.usd[k]) if above.found[k] else None,
                "liq_long_book_usd": float(long_book[k]),
                "liq_short_book_usd": float(short_book[k]),
            }
        )
    return out


def _reading(
    hm: Heatmap, i: int, heat: HeatmapConfig, row: dict[str, Any], days: int, venues: list[str], path: _Path
) -> dict[str, Any]:
    """The scan's liquidation block at the path's hour: pockets (with the leverage mix), the venues with OI then,
    the expected forced flow of the next 24 h (the book at row ``i``, the volatility of the asset's recent closes)."""
    last = i in (-1, len(hm.times) - 1)
    pockets = nearest_pockets(hm, heat, i, (hm.long_tiers, hm.short_tiers) if last else None)
    book = BookAt(hm.edges, hm.long_usd[i], hm.short_usd[i])
    forecast = forced_flow_forecast(book, row_price(hm, i), path.vol(), FORECAST_HORIZON)
    return {
        "proximity": row["liq_proximity"],
        "component": row["c_liquidation_proximity"],
        "distance_in_daily_vol": row["liq_distance_vol"],
        "nearest_above": pockets["nearest_above"],
        "nearest_below": pockets["nearest_below"],
        "venues": venues,
        "model_days": days,
        "run_from": anchor(path.end, days),
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
    the books and read every asset at ``hour`` — the same numbers, touching one row per market. None when an
    asset needs the full path instead (a new month's run, a market with OI but no book yet, books not at the hour
    before); the caller then runs ``hourly_reads`` over the window."""
    days = int(cfg.value("liquidation", "model_days"))
    start = anchor(hour, days)
    rows = new.filter(pl.col("bar_hours") == 1).sort("asset", "venue", "symbol")
    assets = rows["asset"].unique(maintain_order=True).to_list()
    for name in assets:
        run, path = cache.runs.get(name), cache.paths.get(name)
        if run is None or run.start != start or (name, hour) in cache.asked or path is None:
            return None
        if path.end >= hour:
            return None
    inputs = model_inputs(rows)
    close, oi = inputs[2], inputs[3]
    keys = list(zip(rows["asset"].to_list(), rows["venue"].to_list(), rows["symbol"].to_list(), strict=True))
    has_oi = ~np.isnan(oi)
    for j, (name, venue, symbol) in enumerate(keys):
        book = cache.runs[name].books.get((venue, symbol))
        if (book is None and has_oi[j]) or (
            book is not None and book.last_t is not None and book.last_t >= hour
        ):
            return None
    maps: dict[str, list[Heatmap]] = {}
    venues: dict[str, list[str]] = {}
    closes: dict[str, float] = {}
    for j, (name, venue, symbol) in enumerate(keys):
        closes.setdefault(name, float(close[j]))  # the first venue by name: the path's close
        if has_oi[j]:
            venues.setdefault(name, []).append(venue)
        book = cache.runs[name].books.get((venue, symbol))
        if book is None:
            continue
        one = slice(j, j + 1)
        maps.setdefault(name, []).append(
            book.fold((hour, hour, [hour]), np.ones(1, dtype=np.bool_), *(x[one] for x in inputs))
        )
    out: list[dict[str, Any]] = []
    for name in assets:
        path = cache.paths[name] = cache.paths[name].then(hour, closes.get(name))
        cache.asked.add((name, hour))
        if name not in maps:
            continue
        hm = combine(maps[name])
        (row,) = _rows(hm, [0], heat, cfg, name, [rv_at.get((name, hour))])
        if row is None:
            continue
        cache.reads[(name, hour)] = row
        cache.last[name] = (hour, _reading(hm, 0, heat, row, days, sorted(venues.get(name, [])), path))
        out.append(row)
    return pl.DataFrame(out, schema=READ_SCHEMA)
