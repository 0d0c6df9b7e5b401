"""Normalisation against each series' own history: robust z-scores and percentiles.

For an hour in day D the baseline is the trailing window ``[D - window_days, D)`` (refreshed at 00:00 UTC, so a
baseline never contains the hour it judges), sampled every ``stride`` hours. z = (x - median) / max(1.4826 · MAD,
floor); the floor, in the metric's own unit, keeps a series that sat still from turning noise into a huge z.
Vectorised over markets: each metric is a (markets × hours) array.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Grid:
    """Series laid out as arrays: ``keys`` × ``hours`` (hourly, oldest first)."""

    keys: list[str]
    hours: list[datetime]
    frame: pl.DataFrame  # the long frame on the full grid, sorted by key, t

    def array(self, column: str) -> FloatArray:
        values = self.frame[column].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        return values.reshape(len(self.keys), len(self.hours))


def make_grid(frame: pl.DataFrame, start: datetime, end: datetime) -> Grid:
    """Reindex ``frame`` (``key``, ``t``) onto every hour of ``[start, end]`` for every key."""
    keys = sorted(frame["key"].unique().to_list())
    hours = pl.datetime_range(start, end, interval="1h", eager=True, time_zone="UTC").alias("t")
    full = pl.DataFrame({"key": keys}).join(hours.to_frame(), how="cross")
    full = full.join(frame, on=["key", "t"], how="left").sort("key", "t")
    return Grid(keys, hours.to_list(), full)


def _nanmedian(values: FloatArray) -> FloatArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN, as they should
        return np.asarray(np.nanmedian(values, axis=1), dtype=np.float64)


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
    stride: int = 3,
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
