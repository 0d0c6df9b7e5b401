"""Normalisation against each series' own history: robust z-scores and percentiles.

For an hour in day D the baseline is the trailing window ``[D - window_days, D)`` (refreshed at 00:00 UTC, so a
baseline never contains the hour it judges), sampled every ``stride`` hours. z = (x - median) / max(1.4826 · MAD,
floor); the floor, in the metric's own unit, keeps a series that sat still from turning noise into a huge z.
Vectorised over markets: each metric is a (markets × hours) array.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Grid:
    """Series laid out on every hour of a range: ``keys`` × ``hours`` (hourly, oldest first)."""

    keys: list[str]
    hours: list[datetime]
    rows: pl.DataFrame  # the input rows inside the range, with integer positions _k (key) and _h (hour)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.keys), len(self.hours)

    def array(self, column: str) -> FloatArray:
        """``column`` as a float array (keys × hours), NaN where a key has no row for an hour."""
        n_keys, n_hours = self.shape
        out = np.full(n_keys * n_hours, np.nan)
        flat = (self.rows["_k"].to_numpy() * n_hours + self.rows["_h"].to_numpy()).astype(np.int64)
        out[flat] = self.rows[column].cast(pl.Float64).fill_null(float("nan")).to_numpy()
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
        rows = self.rows.filter(pl.col("_h") >= first).drop("key", "t")
        return full.join(rows, on=["_k", "_h"], how="left").sort("_k", "_h").drop("_k", "_h")

    @property
    def frame(self) -> pl.DataFrame:
        """The whole grid as a long frame (every key × every hour)."""
        return self.tail(len(self.hours))


def make_grid(frame: pl.DataFrame, start: datetime, end: datetime) -> Grid:
    """Index ``frame`` (``key``, ``t``) onto every hour of ``[start, end]`` for every key."""
    keys = sorted(frame["key"].unique().to_list())
    hours = pl.datetime_range(start, end, interval="1h", eager=True, time_zone="UTC")
    position = {k: i for i, k in enumerate(keys)}
    rows = frame.filter(pl.col("t").is_between(start, end)).with_columns(
        _k=pl.col("key").replace_strict(position, return_dtype=pl.Int64),
        _h=((pl.col("t") - pl.lit(hours[0])).dt.total_hours()).cast(pl.Int64),
    )
    return Grid(keys, hours.to_list(), rows)


def _nanmedian(values: FloatArray) -> FloatArray:
    """Row medians ignoring NaN (sort-based: much faster than numpy's nanmedian on 2-D input)."""
    ordered = np.sort(values, axis=1)  # NaN sort last
    count = np.sum(~np.isnan(values), axis=1)
    rows = np.arange(values.shape[0])
    lo, hi = np.maximum((count - 1) // 2, 0), np.maximum(count // 2, 0)
    hi = np.minimum(hi, values.shape[1] - 1)
    med = (ordered[rows, lo] + ordered[rows, hi]) / 2.0
    return np.where(count > 0, med, np.nan)


@dataclass(frozen=True)
class Baselines:
    """Per metric: z-scores for the label window (markets × label hours) and percentiles at the last hour."""

    z: dict[str, FloatArray]
    pct_last: dict[str, FloatArray]
    median_last: dict[str, FloatArray]


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
    hours = grid.hours
    n = len(hours)
    first_label = n - label_hours - 1
    window = window_days * 24
    min_samples = max(1, min_history_days * 24 // stride)
    # day boundary (index into the grid) for every label hour
    bounds = []
    for j in range(first_label, n):
        h = hours[j]
        day = h.replace(hour=0, minute=0, second=0, microsecond=0)
        bounds.append(j - int((h - day) / timedelta(hours=1)))
    bounds_arr = np.asarray(bounds)
    z: dict[str, FloatArray] = {}
    pct: dict[str, FloatArray] = {}
    med_last: dict[str, FloatArray] = {}
    for metric, floor in metrics.items():
        values = grid.array(metric)
        label = values[:, first_label:]
        zs = np.full_like(label, np.nan)
        for b in np.unique(bounds_arr):
            lo = max(0, b - window)
            sample = values[:, lo:b][:, ::-1][:, ::stride]  # newest first, every `stride` hours
            count = np.sum(~np.isnan(sample), axis=1)
            med = _nanmedian(sample)
            mad = _nanmedian(np.abs(sample - med[:, None]))
            scale = np.maximum(MAD_TO_SIGMA * mad, floor)
            scale = np.where(count >= min_samples, scale, np.nan)
            cols = bounds_arr == b
            zs[:, cols] = (label[:, cols] - med[:, None]) / scale[:, None]
            if b == bounds_arr[-1]:
                last = label[:, -1]
                below = np.nansum(sample < last[:, None], axis=1) + 0.5 * np.nansum(
                    sample == last[:, None], axis=1
                )
                pct[metric] = np.where(
                    (count >= min_samples) & ~np.isnan(last), below / np.maximum(count, 1), np.nan
                )
                med_last[metric] = med
        z[metric] = zs
    return Baselines(z, pct, med_last)
