"""Normalisation against each series' own history: robust z-scores and percentiles.

For an hour in day D the baseline is the trailing window ``[D - window_days, D)`` (refreshed at 00:00 UTC, so a
baseline never contains the hour it judges), sampled every ``stride`` hours. z = (x - median) / max(1.4826 · MAD,
floor); the floor, in the metric's own unit, keeps a series that sat still from turning noise into a huge z.
Vectorised over markets: each metric is a (markets × hours) array.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt
import polars as pl
from polars._typing import IntoExpr

from levradar.analytics import _loops
from levradar.domain.records import HOUR_US, utc_us

FloatArray = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826
SMALL_ROWS = 4096  # below this, a Python pass beats a polars query's fixed cost (~0.1 ms each)


def add_columns(frame: pl.DataFrame, *columns: IntoExpr, **named: IntoExpr) -> pl.DataFrame:
    """``frame.with_columns``, the expressions one after another on a few rows (≤ SMALL_ROWS): there, waking
    polars' thread pool for every query costs more than the work (a sixth of labelling the live radar's hour,
    measured); many rows keep the parallel query."""
    if frame.height <= SMALL_ROWS:
        return frame.with_columns_seq(*columns, **named)
    return frame.with_columns(*columns, **named)


@dataclass(frozen=True)
class Grid:
    """Series laid out on every hour of a range: ``keys`` × ``hours`` (hourly, oldest first)."""

    keys: list[str]
    hours: list[datetime]
    rows: pl.DataFrame  # the input rows (``key``, ``t`` and the values), unchanged
    cell: npt.NDArray[np.int64]  # each row's cell in the flattened (keys × hours) array; -1 off the grid

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.keys), len(self.hours)

    def array(self, column: str) -> FloatArray:
        """``column`` as a float array (keys × hours), NaN where a key has no row for an hour."""
        values = np.asarray(self.rows[column].to_numpy(), dtype=np.float64)  # a null is NaN
        return _loops.scatter(
            np.ascontiguousarray(values), self.cell, len(self.keys) * len(self.hours)
        ).reshape(self.shape)

    def tail(self, n: int) -> pl.DataFrame:
        """Every key × the last ``n`` hours as a long frame (nulls where missing), sorted by key and time."""
        n_keys, n_hours = self.shape
        first = n_hours - n
        hour = self.cell % n_hours if n_hours else self.cell
        inside = np.flatnonzero((self.cell >= 0) & (hour >= first))
        source = np.full(n_keys * n, -1, dtype=np.int64)  # each tail cell's row, -1 where none
        source[self.cell[inside] // n_hours * n + hour[inside] - first] = inside
        values = self.rows[[c for c in self.rows.columns if c not in ("key", "t")]]
        if source.size != values.height or np.any(source != np.arange(source.size)):
            index = pl.Series(source)  # not each row in its own cell, in order (the live hour is): gather
            values = values.select(pl.all().gather(index.set(index < 0, None)))
        hours_us = np.asarray([utc_us(h) for h in self.hours[first:]], dtype=np.int64)  # no Python datetimes
        times = pl.Series("t", np.tile(hours_us, n_keys)).cast(pl.Datetime("us", "UTC"))
        keys = pl.Series("key", self.keys, dtype=pl.String)
        keys = keys if n == 1 else keys.gather(np.repeat(np.arange(n_keys), n))
        return values.insert_column(0, times).insert_column(0, keys)

    @property
    def frame(self) -> pl.DataFrame:
        """The whole grid as a long frame (every key × every hour)."""
        return self.tail(len(self.hours))


def key_codes(key: pl.Series, keys: list[str] | None = None) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The keys (sorted, unless given) and each row's index among them. A key's rows usually come together, so
    each run of one key is looked up once instead of hashing every row's string (3x faster on a 500-market scan,
    measured); any order works. A few rows (the live radar's hour) are looked up in Python: four polars queries
    cost more than that."""
    if key.len() <= SMALL_ROWS:
        values = key.to_list()
        keys = sorted(set(values)) if keys is None else keys
        at = {k: i for i, k in enumerate(keys)}
        return keys, np.fromiter((at[v] for v in values), dtype=np.int64, count=len(values))
    run = key.rle_id().to_numpy()
    run_keys = key.gather(np.flatnonzero(np.diff(run, prepend=-1)))
    if keys is None:
        keys = sorted(run_keys.unique().to_list())
    # each run's key as its index among ``keys``: a cast to an enum of them (3x a dict's replace_strict, measured)
    codes = run_keys.cast(pl.Enum(keys)).to_physical().cast(pl.Int64).to_numpy()
    return keys, codes[run]


def make_grid(frame: pl.DataFrame, start: datetime, end: datetime, keys: list[str] | None = None) -> Grid:
    """Index ``frame`` (``key``, ``t``) onto every hour of ``[start, end]`` for every key (or the given keys)."""
    if keys is not None and not (frame.height <= SMALL_ROWS and set(frame["key"].to_list()) <= set(keys)):
        frame = frame.filter(pl.col("key").is_in(keys))
    keys, key_code = key_codes(frame["key"], keys)
    hours = [start + timedelta(hours=k) for k in range((end - start) // timedelta(hours=1) + 1)]
    since = frame["t"].dt.epoch("us").to_numpy() - utc_us(start)
    hour = np.sign(since) * (np.abs(since) // HOUR_US)  # whole hours since ``start``, toward zero
    cell = np.where((hour >= 0) & (hour < len(hours)), key_code * len(hours) + hour, -1).astype(np.int64)
    return Grid(keys, hours, frame, cell)


def median_mad(values: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Row medians, median absolute deviations and counts, ignoring NaN: one sort per row, the deviations' middle
    found by a walk outward from the median (_loops.sorted_mad) — nanmedian of ``|values - median|`` exactly."""
    return _sorted_median_mad(np.sort(values, axis=1))  # NaN sort last


def _sorted_median_mad(ordered: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """``median_mad`` of rows already sorted ascending (NaN last)."""
    count = np.sum(~np.isnan(ordered), axis=1).astype(np.int64)
    med = _sorted_median(ordered, count)
    return med, _loops.sorted_mad(np.ascontiguousarray(ordered), count, med), count


def _sorted_median(ordered: FloatArray, count: npt.NDArray[np.int64]) -> FloatArray:
    """Medians of rows sorted ascending with their ``count`` values first (NaN where a row is empty)."""
    rows = np.arange(ordered.shape[0])
    lo, hi = np.maximum((count - 1) // 2, 0), np.maximum(count // 2, 0)
    hi = np.minimum(hi, ordered.shape[1] - 1)
    med = (ordered[rows, lo] + ordered[rows, hi]) / 2.0
    return np.where(count > 0, med, np.nan)


@dataclass(frozen=True)
class Baselines:
    """Per metric: z-scores for the label window (markets × label hours) and percentiles at the last hour."""

    z: dict[str, FloatArray]
    pct_last: dict[str, FloatArray]
    median_last: dict[str, FloatArray]


@dataclass(frozen=True)
class DayBaseline:
    """One day's baseline of one metric for every key: median, scale (robust sigma, floored) and the sample."""

    median: FloatArray
    scale: FloatArray  # NaN where the history is too short
    sample: FloatArray  # keys × samples (NaN: none); each row ascending, NaN last, when ``is_sorted``
    is_sorted: bool = False

    @cached_property
    def ordered(self) -> FloatArray:
        """The sample, each row ascending, NaN last (sorted when first asked for: a scan asks for three metrics')."""
        return self.sample if self.is_sorted else np.sort(self.sample, axis=1)

    def z(self, values: FloatArray) -> FloatArray:
        return (values - self.median[:, None]) / self.scale[:, None]

    def percentile(self, values: FloatArray) -> FloatArray:
        """Share of the sample below each value (ties count half); NaN where the history is too short."""
        below = _loops.share_below(self.ordered, self.count, np.ascontiguousarray(values, dtype=np.float64))
        return np.where(~np.isnan(self.scale) & ~np.isnan(values), below, np.nan)

    @cached_property
    def count(self) -> npt.NDArray[np.int64]:
        """Each key's number of samples (asked for every hour of the day the baseline serves)."""
        return np.asarray(np.sum(~np.isnan(self.sample), axis=1), dtype=np.int64)

    def sorted(self) -> DayBaseline:
        """This baseline with its sample sorted now (the live radar's, at build: its first midnight slides from it)."""
        return DayBaseline(self.median, self.scale, self.ordered, is_sorted=True)


def day_baseline(
    values: FloatArray, bound: int, *, window: int, stride: int, floor: float, min_samples: int
) -> DayBaseline:
    """The baseline for the day starting at grid column ``bound``: columns ``[bound - window, bound)``."""
    ordered = np.sort(_sample(values, bound, window, stride), axis=1)  # NaN sort last
    med, mad, count = _sorted_median_mad(ordered)
    return DayBaseline(med, _scale(mad, count, floor, min_samples), ordered, is_sorted=True)


def next_day_baseline(
    previous: DayBaseline,
    values: FloatArray,
    bound: int,
    *,
    window: int,
    stride: int,
    floor: float,
    min_samples: int,
) -> DayBaseline:
    """``day_baseline`` for the day starting at column ``bound``, from the baseline of the day before (``previous``,
    the day starting at ``bound - 24``): its sorted sample with the samples that left the window taken out and those
    of the day before put in (_loops.slide_sorted), not sorted afresh — the same sample, so the same medians and
    scales. Sorted afresh when the days' samples do not slide (a stride that does not divide a day, no day before,
    a sample the values do not match)."""
    before = bound - 24

    def fresh() -> DayBaseline:
        return day_baseline(values, bound, window=window, stride=stride, floor=floor, min_samples=min_samples)

    if 24 % stride or before <= 0 or bound > values.shape[1]:
        return fresh()
    start = max(0, bound - window)
    leaving = [c for c in range(before - 1, max(0, before - window) - 1, -stride) if c < start]
    entering = list(range(bound - 1, max(before, start) - 1, -stride))
    ordered, matched = _loops.slide_sorted(
        previous.ordered,
        previous.count,
        np.ascontiguousarray(values[:, leaving]),
        np.ascontiguousarray(values[:, entering]),
        len(range(bound - 1, start - 1, -stride)),
    )
    if not matched:
        return fresh()
    med, mad, count = _sorted_median_mad(ordered)
    return DayBaseline(med, _scale(mad, count, floor, min_samples), ordered, is_sorted=True)


def _sample(values: FloatArray, bound: int, window: int, stride: int) -> FloatArray:
    """Columns ``[bound - window, bound)`` every ``stride`` hours, newest first; a copy, never a view of a buffer
    that may later shift. A day that starts at or before the grid has no history at all (one NaN column)."""
    if bound <= 0:
        return np.full((values.shape[0], 1), np.nan)
    return values[:, max(0, bound - window) : bound][:, ::-1][:, ::stride].copy()


def _scale(mad: FloatArray, count: npt.NDArray[np.int64], floor: float, min_samples: int) -> FloatArray:
    return np.where(count >= min_samples, np.maximum(MAD_TO_SIGMA * mad, floor), np.nan)


def day_baselines(
    values: FloatArray, bounds: list[int], *, window: int, stride: int, floor: float, min_samples: int
) -> tuple[FloatArray, FloatArray]:
    """Medians and scales (keys × days) of the baselines of the days starting at grid columns ``bounds``
    (ascending) — ``day_baseline``'s, computed together: when the days' samples lie on one ``stride``-hour lattice
    (a stride that divides 24 h), the first day's window is sorted (numpy) and each next day's is the one before
    with the samples that left taken out and those that came put in (_loops.sliding_median_mad)."""
    last = bounds[-1]
    if any((last - b) % stride for b in bounds):  # a stride that does not divide a day: one sort per day
        days = [
            day_baseline(values, b, window=window, stride=stride, floor=floor, min_samples=min_samples)
            for b in bounds
        ]
        return np.stack([d.median for d in days], axis=1), np.stack([d.scale for d in days], axis=1)
    columns = np.arange(last - 1, max(0, bounds[0] - window) - 1, -stride)[::-1]  # oldest first
    lattice = np.ascontiguousarray(values[:, columns])
    first = np.searchsorted(columns, [max(0, b - window) for b in bounds]).astype(np.int64)
    stop = np.searchsorted(columns, bounds).astype(np.int64)
    first_sorted = np.sort(lattice[:, first[0] : stop[0]], axis=1)  # NaN last
    med, mad, count = _loops.sliding_median_mad(lattice, np.ascontiguousarray(first_sorted), first, stop)
    return med, _scale(mad, count, floor, min_samples)


def label_window_z(
    values: FloatArray,
    bounds: npt.NDArray[np.int64],
    *,
    window: int,
    stride: int,
    floor: float,
    min_samples: int,
) -> tuple[FloatArray, DayBaseline]:
    """z of the last ``len(bounds)`` columns of ``values``, each against the baseline of its day (``bounds``: each
    column's day start, ascending), and the last day's baseline (kept by the live radar; its percentiles)."""
    days = sorted({int(b) for b in bounds})
    med, scale = day_baselines(
        values, days, window=window, stride=stride, floor=floor, min_samples=min_samples
    )
    day = np.searchsorted(days, bounds)  # each column's day
    z = (values[:, values.shape[1] - len(bounds) :] - med[:, day]) / scale[:, day]
    return z, DayBaseline(med[:, -1], scale[:, -1], _sample(values, days[-1], window, stride))


def day_bound(hours: list[datetime], j: int) -> int:
    """Grid column of 00:00 UTC of the day of column ``j``."""
    h = hours[j]
    return j - int((h - h.replace(hour=0, minute=0, second=0, microsecond=0)) / timedelta(hours=1))


def robust_baselines(
    grid: Grid,
    metrics: dict[str, float],
    *,
    label_hours: int,
    window_days: int,
    min_history_days: int,
    stride: int = 6,
) -> Baselines:
    """z for the last ``label_hours + 1`` hours of each metric (floors by metric), percentiles at the last hour."""
    n = len(grid.hours)
    first_label = n - label_hours - 1
    bounds = np.asarray([day_bound(grid.hours, j) for j in range(first_label, n)])
    min_samples = max(1, min_history_days * 24 // stride)
    z: dict[str, FloatArray] = {}
    pct: dict[str, FloatArray] = {}
    med_last: dict[str, FloatArray] = {}
    for metric, floor in metrics.items():
        values = grid.array(metric)
        z[metric], base = label_window_z(
            values, bounds, window=window_days * 24, stride=stride, floor=floor, min_samples=min_samples
        )
        pct[metric] = base.percentile(values[:, -1])
        med_last[metric] = base.median
    return Baselines(z, pct, med_last)
