"""The live radar: keep a scan's state and fold in one new hour at a time.

``LiveRadar.advance`` labels the new hour alone: the 90-day baselines are reused within a UTC day, the metric
arrays shift by one column, the labels carry on from the state the hour before left (analytics/signals.LabelState:
hysteresis, dwell, how long a side has held, the trailing hours the rolling rules read) and the liquidation model's
books advance by the new hour (analytics/proximity.py). Its labels are therefore those of a history started at the
radar's first labelled hour — the labels once shown never change — where a fresh scan starts them 7 days before
its hour (docs/signals.md §3; a test checks both hour by hour).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from polars._typing import ConcatMethod

from levradar.analytics.baseline import (
    DayBaseline,
    FloatArray,
    day_bound,
    label_window_z,
    make_grid,
    next_day_baseline,
)
from levradar.analytics.config import SignalConfig
from levradar.analytics.heatmap import load_heatmap_config
from levradar.analytics.proximity import HOUR_COLUMNS, BookCache, advance_hour, anchor, hourly_reads
from levradar.analytics.scan import (
    PERCENTILES,
    Evaluated,
    finish,
    level_input,
    level_metrics,
    with_reads,
    with_z,
)
from levradar.analytics.series import PRICE_HISTORY, PriceHistory, asset_frame, with_price_features
from levradar.analytics.signals import LabelState, evaluate
from levradar.analytics.venues import AssetHours, SpreadBaseline, VenueRule, with_funding_weights
from levradar.domain.records import DAY_US, utc_us

SPARE_HOURS = 24 * 7  # metric arrays get this many free columns, so a new hour is written in place


COMPACT_HOURS = 6  # hours' chunks made one at a time: a quarter of a day's copy (a day's measured ~10 ms)


def _compacted(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with the hours appended since the last compaction made one chunk once ``COMPACT_HOURS`` of them
    piled up (each hour adds a chunk to every column, and polars pays per chunk). The chunks made before stay as
    they are — copying the hours kept again each time cost the hour that did it ~10 ms — and as the kept rows are
    trimmed from the front, an old chunk leaves with its hours. An hour's chunk is told from a merged one by its
    size: the trailing chunks no bigger than twice the last one are the hours."""
    lengths = rows.to_series(0).chunk_lengths()  # the first column's: every column is appended to alike
    hours = 0
    while hours < len(lengths) and lengths[-1 - hours] <= 2 * lengths[-1]:
        hours += 1
    if hours < COMPACT_HOURS:
        return rows
    recent = rows.height - sum(lengths[-hours:])
    return rows.slice(0, recent).vstack(rows.slice(recent).rechunk())


def _stacked(top: pl.DataFrame, bottom: pl.DataFrame, how: ConcatMethod) -> pl.DataFrame:
    """``top`` then ``bottom``: their chunks appended (``vstack``) when their columns match — ``pl.concat`` runs a
    query, ~0.1 ms however few the rows, and comparing the schemas costs as much — else ``pl.concat(how=how)``."""
    try:
        return top.vstack(bottom)
    except (pl.exceptions.SchemaError, pl.exceptions.ShapeError):
        return pl.concat([top, bottom], how=how)


def _appended(rows: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with ``new`` appended (compacted now and then)."""
    return _compacted(_stacked(rows, new, "diagonal_relaxed"))


def _after(rows: pl.DataFrame, t: datetime) -> pl.DataFrame:
    """The rows (sorted by time) after ``t``: a slice, not a filter over every row."""
    at = np.searchsorted(rows["t"].to_numpy(), np.datetime64(utc_us(t), "us"), side="right")
    return rows.slice(int(at))


class LiveRadarError(ValueError):
    """The new hour cannot be folded in (wrong hour, or a market the radar was not built with)."""


@dataclass
class _Level:
    is_asset: bool
    keys: list[str]
    hours: list[datetime]
    buffers: dict[
        str, FloatArray
    ]  # metric -> keys × (hours + spare); the window is columns [offset, offset + T)
    prices: PriceHistory  # each key's closes of the last PRICE_HISTORY
    tail: pl.DataFrame  # evaluate() input over the label window (z included), until the window is labelled
    bound: datetime
    base: dict[str, DayBaseline] = field(default_factory=dict)
    upcoming: tuple[datetime, dict[str, DayBaseline]] | None = (
        None  # the next day's, read at the day's last hour
    )
    offset: int = 0
    done: pl.DataFrame = field(default_factory=pl.DataFrame)  # labelled rows by hour then key, no percentiles
    counts: list[int] = field(default_factory=list)  # rows of each hour in ``done``, oldest first

    def array(self, metric: str) -> FloatArray:
        return self.buffers[metric][:, self.offset : self.offset + len(self.hours)]

    def keep(self, labelled: pl.DataFrame) -> None:
        """The label window one hour on: the oldest hour's rows dropped, ``labelled`` (the new hour's, no
        percentiles) appended — a slice and a chunk, no copy of the window."""
        oldest = self.counts.pop(0)
        self.done = _compacted(_stacked(self.done.slice(oldest), labelled, "vertical_relaxed"))
        self.counts.append(labelled.height)

    def push(self, metric: str, column: FloatArray) -> None:
        """Append one hour to the window (dropping the oldest), compacting the buffer when it is full."""
        buf, n = self.buffers[metric], len(self.hours)
        if self.offset + n >= buf.shape[1]:
            buf[:, : n - 1] = buf[:, self.offset + 1 : self.offset + n]
            buf[:, n - 1] = column[:, 0]
        else:
            buf[:, self.offset + n] = column[:, 0]


class LiveRadar:
    """A scan that can be advanced hour by hour (``markets`` as produced by ``series.market_frame``)."""

    def __init__(
        self, markets: pl.DataFrame, start: datetime, end: datetime, label_hours: int, cfg: SignalConfig
    ):
        self.cfg, self.end, self.label_hours = cfg, end, label_hours
        self.window = int(cfg.value("baseline", "window_days")) * 24
        self.min_samples = max(1, int(cfg.value("baseline", "min_history_days")) * 24 // 6)
        self.single = markets.select("venue", "symbol").n_unique() == markets["asset"].n_unique()
        self.venue_of = markets.select("asset", "venue", "symbol").unique()
        self.keys = set(markets["key"].unique().to_list())  # the markets the radar was built with
        self.rule = VenueRule.from_config(cfg)
        # market rows kept for the venue-outlier baseline (the trailing days before each hour's day)
        self.history = timedelta(days=self.rule.outlier_window_days + 1)
        self.market_rows = markets.filter(pl.col("t") > end - self.history).sort(
            "t"
        )  # by time: kept by slicing
        weighted = with_funding_weights(markets, self.rule)
        self.spread_base: SpreadBaseline | None = None  # the venues' spread baselines of the last hour's day
        self.spread_upcoming: SpreadBaseline | None = None  # the next day's, read at the day's last hour
        self.levels = {"asset": self._level(asset_frame(weighted), start, end, True)}
        if not self.single:
            self.levels["market"] = self._level(weighted, start, end, False)
        # the liquidation model: hourly rows back to the start of the run behind the first labelled hour
        self.heat, self.books = load_heatmap_config(), BookCache()
        self.model_days = int(cfg.value("liquidation", "model_days"))
        self.model_from = anchor(end - timedelta(hours=label_hours), self.model_days)
        self.model_rows = markets.filter(pl.col("t") > self.model_from)
        self.liquidation: dict[str, dict[str, Any]] = {}
        assets = self.levels["asset"]
        assets.tail = with_reads(assets.tail, self._read_liquidation(assets.tail))
        self.first_labelled = end - timedelta(hours=label_hours)  # where the labels' state starts
        states = {name: LabelState() for name in self.levels}
        self.evaluated = self._evaluate(
            {name: self._label_window(level, states[name]) for name, level in self.levels.items()}
        )
        # where the labels of every key stand, the levels' keys one after another (asset level first): a new
        # hour is labelled in one pass over both levels
        self.labels = LabelState.stacked(list(states.values()))

    def _level(self, frame: pl.DataFrame, start: datetime, end: datetime, is_asset: bool) -> _Level:
        grid = make_grid(level_input(with_price_features(frame)), start, end)
        metrics = level_metrics(self.cfg, is_asset)
        arrays = {m: grid.array(m) for m in metrics}
        buffers = {
            m: np.concatenate([a, np.full((a.shape[0], SPARE_HOURS), np.nan)], axis=1)
            for m, a in arrays.items()
        }
        n = len(grid.hours)
        first = n - self.label_hours - 1
        bounds = np.asarray([day_bound(grid.hours, j) for j in range(first, n)])
        z: dict[str, FloatArray] = {}
        base: dict[str, DayBaseline] = {}  # the current day's, kept for the hours to come
        for m, floor in metrics.items():
            z[m], day = label_window_z(
                arrays[m], bounds, window=self.window, stride=6, floor=floor, min_samples=self.min_samples
            )
            base[m] = day.sorted()
        window = grid.tail(self.label_hours + 1).with_columns(hour_index=pl.int_range(pl.len()).over("key"))
        tail = with_z(window, z, is_asset)
        prices = PriceHistory(frame.filter(pl.col("t") > end - PRICE_HISTORY), grid.keys)
        return _Level(
            is_asset,
            grid.keys,
            grid.hours,
            buffers,
            prices,
            tail,
            grid.hours[day_bound(grid.hours, n - 1)],
            base,
        )

    def _baselines(
        self, level: _Level, arrays: dict[str, FloatArray], bound: int, metrics: dict[str, float]
    ) -> dict[str, DayBaseline]:
        """The baselines of the day starting at column ``bound``, slid on from the day before's (``level.base``)."""
        return {
            m: next_day_baseline(
                level.base[m],
                arrays[m],
                bound,
                window=self.window,
                stride=6,
                floor=floor,
                min_samples=self.min_samples,
            )
            for m, floor in metrics.items()
        }

    def advance(self, new_markets: pl.DataFrame) -> Evaluated:
        """Fold in the hour after the current one (rows of every market for that hour) and re-read the radar."""
        hour = self.end + timedelta(hours=1)
        if new_markets.is_empty() or new_markets["t"].n_unique() != 1 or new_markets["t"][0] != hour:
            raise LiveRadarError(f"advance expects the rows of exactly one hour, {hour:%Y-%m-%d %H:%M} UTC")
        unknown = set(new_markets["key"].to_list()) - self.keys
        if unknown:  # refused before anything changes: the radar stays at its hour
            raise LiveRadarError(f"new market(s) {', '.join(sorted(unknown))}: build a new LiveRadar")
        self.market_rows = _appended(_after(self.market_rows, hour - self.history), new_markets)
        first = anchor(hour - timedelta(hours=self.label_hours), self.model_days)
        kept = self.model_rows if first == self.model_from else self.model_rows.filter(pl.col("t") > first)
        self.model_rows, self.model_from = _appended(kept, new_markets), first
        day_us = utc_us(hour.replace(hour=0))
        if self.spread_base is None or self.spread_base.day_us != day_us:  # once a UTC day, as the baselines
            upcoming = self.spread_upcoming
            ready = upcoming is not None and upcoming.day_us == day_us
            self.spread_base = upcoming if ready else SpreadBaseline.of(self.market_rows, self.rule, day_us)
        layout = AssetHours.of(new_markets)  # the hour's rows by asset: for the weights and the asset level
        weighted = with_funding_weights(new_markets, self.rule, layout, self.spread_base)
        with ThreadPoolExecutor(1) as pool:
            # the market level needs nothing of the asset level or the books: it steps beside them (polars, numpy
            # and the compiled loops release the GIL while they work)
            by_market = (
                pool.submit(self._step, self.levels["market"], weighted, hour)
                if "market" in self.levels
                else None
            )
            new_rows = self._step(self.levels["asset"], asset_frame(weighted, layout=layout), hour)
            self.end = hour
            spread_upcoming: Future[SpreadBaseline] | None = None
            prepared: list[Future[None]] = []
            if hour.hour == 23:
                # the day's last hour is in, and the next day's baselines read nothing later: read them now, beside
                # this hour's work (the thread has room), not in the hour that crosses midnight
                spread_upcoming = pool.submit(SpreadBaseline.of, self.market_rows, self.rule, day_us + DAY_US)
                # after each level's step (one worker: in order)
                prepared = [pool.submit(self._prepare_next_day, level) for level in self.levels.values()]
            reads = self._advance_books(new_markets, new_rows)
            if reads is None:  # a new month's run, or a market new to the books: the full path
                reads = self._read_liquidation(new_rows).filter(pl.col("t") == hour)
            rows = {"asset": _with_hour_reads(new_rows, reads)}
            if by_market is not None:
                rows["market"] = by_market.result()
        self.spread_upcoming = None if spread_upcoming is None else spread_upcoming.result()
        for job in prepared:
            job.result()  # an error there is the hour's error, not lost with the thread
        self.evaluated = self._evaluate(self._label_hour(rows, hour))
        return self.evaluated

    def _advance_books(self, new_rows: pl.DataFrame, new_tail: pl.DataFrame) -> pl.DataFrame | None:
        """The new hour's liquidation proximity from the books advanced by that hour alone (proximity.advance_hour);
        None when they cannot be (a new month's run, a market new to the books): ``_read_liquidation`` then."""
        rv_at = {(a, self.end): v for a, v in new_tail.select("key", "rv_24h").iter_rows() if v is not None}
        reads = advance_hour(self.books, new_rows, self.end, rv_at, self.cfg, self.heat)
        if reads is not None:
            self.books.forget_before(self.end - timedelta(hours=self.label_hours))
            self.liquidation = {a: r for a, (t, r) in self.books.last.items() if t == self.end}
        return reads

    def _read_liquidation(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Liquidation proximity for the hours of the label window not read yet, by the full path (the books run
        over the window; an hour read before is not modelled again); ``rows``: asset rows with their rv_24h."""
        hours = [self.end - timedelta(hours=k) for k in range(self.label_hours, -1, -1)]
        rv = rows.select(pl.col("key").alias("asset"), "t", "rv_24h")
        reads, self.liquidation = hourly_reads(self.model_rows, hours, rv, self.cfg, self.heat, self.books)
        self.books.forget_before(hours[0])
        return reads

    def _step(self, level: _Level, new_rows: pl.DataFrame, hour: datetime) -> pl.DataFrame:
        """The level's metrics and baselines moved to ``hour``; its new label-window rows (one per key)."""
        featured = level.prices.add(new_rows)
        grid = make_grid(level_input(featured), hour, hour, level.keys)
        metrics = level_metrics(self.cfg, level.is_asset)
        compacting = level.offset + len(level.hours) >= next(iter(level.buffers.values())).shape[1]
        for m in metrics:
            level.push(m, grid.array(m))
        level.offset = 0 if compacting else level.offset + 1
        level.hours = [*level.hours[1:], hour]
        arrays = {m: level.array(m) for m in metrics}
        bound = hour.replace(hour=0)
        if bound != level.bound:
            if level.upcoming is not None and level.upcoming[0] == bound:
                level.base = level.upcoming[1]
            else:
                level.base = self._baselines(level, arrays, len(level.hours) - 1 - hour.hour, metrics)
            level.upcoming, level.bound = None, bound
        z = {m: level.base[m].z(arrays[m][:, -1:]) for m in metrics}
        return with_z(grid.tail(1), z, level.is_asset)

    def _prepare_next_day(self, level: _Level) -> None:
        """The next day's baselines of ``level`` once its day's last hour is in (their window ends with it)."""
        metrics = level_metrics(self.cfg, level.is_asset)
        arrays = {m: level.array(m) for m in metrics}
        level.upcoming = (
            level.bound + timedelta(days=1),
            self._baselines(level, arrays, len(level.hours), metrics),
        )

    def _percentiles(self, levels: list[_Level]) -> dict[str, FloatArray]:
        """The last hour's percentiles of the levels' keys, one level after another."""
        return {
            m: np.concatenate([level.base[m].percentile(level.array(m)[:, -1]) for level in levels])
            for m in ("rate_8h", "log_oi_usd", "rv_24h")
        }

    def _label_window(self, level: _Level, state: LabelState) -> pl.DataFrame:
        """The label window labelled from its first hour (``state``: left where each key's labels end, for the
        hours to come); the rows kept by hour then key."""
        out = evaluate(level.tail, self.cfg, (len(level.keys), self.label_hours + 1), state)
        result = finish(out, level.keys, self._percentiles([level]), self.end)
        level.tail = level.tail.clear()  # labelled: the input rows are not needed again
        level.done = _without_percentiles(result.sort("t", "key"))
        per_hour = dict(level.done.group_by("t").len().iter_rows())
        level.counts = [per_hour.get(h, 0) for h in level.hours[-(self.label_hours + 1) :]]
        return result

    def _label_hour(self, rows: dict[str, pl.DataFrame], hour: datetime) -> dict[str, pl.DataFrame]:
        """The new hour of every level (``rows``: each level's, one per key) labelled in one pass from where each
        key's labels stood (``self.labels``; the rules read each row and its own state alone); each level's
        window."""
        since_first = (hour - self.first_labelled) // timedelta(hours=1)  # as a history from that hour counts
        stacked = pl.concat(rows.values(), how="diagonal_relaxed").with_columns(
            hour_index=pl.lit(since_first, pl.Int64)
        )
        out = evaluate(stacked, self.cfg, (stacked.height, 1), self.labels)
        levels = [self.levels[name] for name in rows]
        keys = [key for level in levels for key in level.keys]
        pct = self._percentiles(levels)
        # the rows without a price dropped: each level's rows stay together and in order
        finished = finish(out, keys, pct, hour)
        windows, at = {}, 0
        for name, level in zip(rows, levels, strict=True):
            priced = rows[name].height - rows[name]["close"].null_count()
            new = finished.slice(at, priced)[level.done.columns]
            at += priced
            level.keep(_without_percentiles(new))
            windows[name] = _stacked(
                level.done.slice(0, level.done.height - new.height), new, "vertical_relaxed"
            )
        return windows

    def _evaluate(self, results: dict[str, pl.DataFrame]) -> Evaluated:
        """The radar at ``self.end`` from each level's labelled rows."""
        by_asset = results["asset"]
        by_market = results.get("market")
        if by_market is None:
            by_market = by_asset.drop("venue", "symbol", strict=False).join(
                self.venue_of, on="asset", how="left"
            )
            by_market = by_market.with_columns(key=pl.concat_str("venue", pl.lit(":"), "symbol"))
        recent = _after(self.market_rows, self.end - timedelta(hours=self.label_hours + 1))
        return Evaluated(self.end, by_asset, by_market, self.cfg, self.liquidation, recent)


def _with_hour_reads(rows: pl.DataFrame, reads: pl.DataFrame) -> pl.DataFrame:
    """The new hour's asset rows (one per key; with_z left their readings empty) with the liquidation readings
    of the assets read then (``reads``: one row each), by position: a join is a query, ~1 ms here."""
    at = {a: i for i, a in enumerate(reads["asset"].to_list())}
    where = [at.get(key) for key in rows["key"].to_list()]
    columns = []
    for name, dtype in HOUR_COLUMNS.items():
        values = reads[name].to_list()
        columns.append(pl.Series(name, [None if i is None else values[i] for i in where], dtype=dtype))
    return rows.with_columns(columns)


def _without_percentiles(rows: pl.DataFrame) -> pl.DataFrame:
    """Labelled rows kept for later hours: the percentiles speak for the radar's hour only."""
    return rows.with_columns(pl.lit(None, pl.Float64).alias(c) for c in PERCENTILES)
