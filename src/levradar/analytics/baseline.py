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

from levradar.analytics import _loops

FloatArray = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Grid:
    """Series laid out on every hour of a range: ``keys`` × ``hours`` (hourly, oldest first)."""

    keys: list[str]
    hours: list[datetime]
    rows: (
        pl.DataFrame
    )  # the input rows with integer positions _k (key) and _h (hour); _h outside the range is unused

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.keys), len(self.hours)

    @cached_property
    def _inside(self) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """Which rows fall on the grid's hours, and their cells in the flattened (keys × hours) array."""
        hour = self.rows["_h"].to_numpy()
        inside = (hour >= 0) & (hour < len(self.hours))
        cells = self.rows["_k"].to_numpy()[inside] * len(self.hours) + hour[inside]
        return inside, cells.astype(np.int64)

    def array(self, column: str) -> FloatArray:
        """``column`` as a float array (keys × hours), NaN where a key has no row for an hour."""
        n_keys, n_hours = self.shape
        inside, cells = self._inside
        out = np.full(n_keys * n_hours, np.nan)
        out[cells] = self.rows[column].cast(pl.Float64).fill_null(float("nan")).to_numpy()[inside]
        return out.reshape(n_keys, n_hours)

    def tail(self, n: int) -> pl.DataFrame:
        """Every key × the last ``n`` hours as a long frame (nulls where missing), sorted by key and time."""
        n_keys, n_hours = self.shape
        first = n_hours - n
        full = pl.DataFrame(
            {
                "_k": np.repeat(np.arange(n_keys, dtype=np.int64), n),
                "_h": np.tile(np.arange(first, n_hours, dtype=np.int64), n_keys),
            }
        ).with_columns(
            key=pl.col("_k").replace_strict(dict(enumerate(self.keys)), return_dtype=pl.String),
            t=pl.lit(self.hours[0]) + pl.duration(hours=pl.col("_h")),
        )
        rows = self.rows.filter(pl.col("_h").is_between(first, n_hours - 1)).drop("key", "t")
        return full.join(rows, on=["_k", "_h"], how="left").sort("_k", "_h").drop("_k", "_h")

    @property
    def frame(self) -> pl.DataFrame:
        """The whole grid as a long frame (every key × every hour)."""
        return self.tail(len(self.hours))


def make_grid(frame: pl.DataFrame, start: datetime, end: datetime, keys: list[str] | None = None) -> Grid:
    """Index ``frame`` (``key``, ``t``) onto every hour of ``[start, end]`` for every key (or the given keys)."""
    if keys is None:
        keys = sorted(frame["key"].unique().to_list())
    else:
        frame = frame.filter(pl.col("key").is_in(keys))
    hours = pl.datetime_range(start, end, interval="1h", eager=True, time_zone="UTC")
    position = {k: i for i, k in enumerate(keys)}
    # no copy of the rows inside the range: a grid over a 90-day universe would copy every column of every row
    rows = frame.with_columns(
        _k=pl.col("key").replace_strict(position, return_dtype=pl.Int64),
        _h=((pl.col("t") - pl.lit(hours[0])).dt.total_hours()).cast(pl.Int64),
    )
    return Grid(keys, hours.to_list(), rows)


def median_mad(values: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Row medians, median absolute deviations and counts, ignoring NaN: one sort per row, the deviations' middle
    found by a walk outward from the median (_loops.sorted_mad) — nanmedian of ``|values - median|`` exactly."""
    ordered = np.sort(values, axis=1)  # NaN sort last
    count = np.sum(~np.isnan(values), axis=1).astype(np.int64)
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
    sample: FloatArray  # keys × samples, newest first

    def z(self, values: FloatArray) -> FloatArray:
        return (values - self.median[:, None]) / self.scale[:, None]

    def percentile(self, values: FloatArray) -> FloatArray:
        """Share of the sample below each value (ties count half); NaN where the history is too short."""
        below = np.nansum(self.sample < values[:, None], axis=1) + 0.5 * np.nansum(
            self.sample == values[:, None], axis=1
        )
        count = np.sum(~np.isnan(self.sample), axis=1)
        return np.where(~np.isnan(self.scale) & ~np.isnan(values), below / np.maximum(count, 1), np.nan)


def day_baseline(
    values: FloatArray, bound: int, *, window: int, stride: int, floor: float, min_samples: int
) -> DayBaseline:
    """The baseline for the day starting at grid column ``bound``: columns ``[bound - window, bound)``."""
    if bound <= 0:  # the day starts at or before the grid: no history at all
        empty = np.full(values.shape[0], np.nan)
        return DayBaseline(empty, empty.copy(), np.full((values.shape[0], 1), np.nan))
    lo = max(0, bound - window)
    # newest first, every `stride` hours; a copy, never a view of a buffer that may later shift
    sample = values[:, lo:bound][:, ::-1][:, ::stride].copy()
    med, mad, count = median_mad(sample)
    scale = np.where(count >= min_samples, np.maximum(MAD_TO_SIGMA * mad, floor), np.nan)
    return DayBaseline(med, scale, sample)


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
        label = values[:, first_label:]
        zs = np.full_like(label, np.nan)
        for b in np.unique(bounds):
            base = day_baseline(
                values, int(b), window=window_days * 24, stride=stride, floor=floor, min_samples=min_samples
            )
            cols = bounds == b
            zs[:, cols] = base.z(label[:, cols])
            if b == bounds[-1]:
                pct[metric] = base.percentile(label[:, -1])
                med_last[metric] = base.median
        z[metric] = zs
    return Baselines(z, pct, med_last)
