"""The ex-ante forecast of forced flow: the modelled book weighed by the chance that price reaches each level.

For the next ``H`` hours, a level at log distance ``d`` from the price is reached with probability
``P = 2 · Φ(−d / (σ · √H))`` (the reflection principle for a driftless random walk). The expected forced flow of a
side is the sum of its levels' USD times that probability: it rises with the fuel near the price, with volatility
and with OI. σ is the hourly volatility expected over the horizon (``expected_hourly_vol``): a fixed blend of the
realised hourly variance of the last 4 hours (0.4), 24 hours (0.4) and 7 days (0.2) — volatility clusters — times
the hour-of-day profile of the last 30 days for the hours ahead (the US session moves more than the Asian night).
The blend is set, not fitted; docs/heatmap.md §4 measures the forecast against naive baselines out of sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics import _kernel
from levradar.analytics._kernel import erfc
from levradar.analytics.liqmodel import bucket_centers

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BookAt:
    """A modelled book at one hour: USD of long and short levels per price bucket (``edges`` are the bounds)."""

    edges: FloatArray
    long_usd: FloatArray
    short_usd: FloatArray

    @property
    def centers(self) -> FloatArray:
        return bucket_centers(self.edges)

    def _between(self, usd: FloatArray, lo: float, hi: float) -> float:
        """USD in ``[lo, hi]``, the end buckets cut in proportion to their log-price overlap."""
        if not (hi > lo > 0):
            return 0.0
        left, right = np.log(self.edges[:-1]), np.log(self.edges[1:])
        overlap = np.clip(np.minimum(right, math.log(hi)) - np.maximum(left, math.log(lo)), 0.0, None)
        return float(np.sum(usd * overlap / (right - left)))

    def long_between(self, lo: float, hi: float) -> float:
        return self._between(self.long_usd, lo, hi)

    def short_between(self, lo: float, hi: float) -> float:
        return self._between(self.short_usd, lo, hi)


@dataclass(frozen=True)
class Forecast:
    long_usd: float | None  # expected USD of long positions liquidated over the horizon
    short_usd: float | None
    horizon_hours: float
    hourly_vol: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "long_usd": self.long_usd,
            "short_usd": self.short_usd,
            "total_usd": None
            if self.long_usd is None or self.short_usd is None
            else self.long_usd + self.short_usd,
            "horizon_hours": self.horizon_hours,
            "hourly_vol": self.hourly_vol,
            "method": "modelled book × P(price reaches the level) from recent realised volatility (docs/heatmap.md)",
        }


def hit_probability(distance: FloatArray, hourly_vol: float, hours: float) -> FloatArray:
    """P(the price touches a level at log distance ``distance`` within ``hours``), driftless random walk:
    2·Φ(−|d|/σ√h) = erfc(|d| / (σ√(2h)))."""
    scale = hourly_vol * math.sqrt(2.0 * hours)
    x = np.abs(np.asarray(distance, dtype=np.float64)) / scale
    return erfc(np.ascontiguousarray(x).ravel()).reshape(x.shape)


def forced_flow_forecast(
    book: BookAt, price: float, hourly_vol: float | None, horizon: timedelta
) -> Forecast:
    """Expected forced flow per side over ``horizon`` (``hourly_vol``: see ``expected_hourly_vol``)."""
    return forced_flow_forecasts(
        book.centers[None, :],
        np.asarray(book.long_usd, dtype=np.float64)[None, :],
        np.asarray(book.short_usd, dtype=np.float64)[None, :],
        [price],
        [hourly_vol],
        horizon,
    )[0]


def forced_flow_forecasts(
    centers: FloatArray,
    long_usd: FloatArray,
    short_usd: FloatArray,
    prices: Sequence[float],
    hourly_vols: Sequence[float | None],
    horizon: timedelta,
) -> list[Forecast]:
    """:func:`forced_flow_forecast` of several books at once (row ``i``: buckets' ``centers``, long and short USD,
    price and hourly volatility), one compiled pass; no forecast (None sides) without a positive price and
    volatility."""
    hours = horizon / timedelta(hours=1)
    usable = [
        vol is not None and math.isfinite(vol) and vol > 0 and price > 0
        for price, vol in zip(prices, hourly_vols, strict=True)
    ]
    rows = [i for i, ok in enumerate(usable) if ok]
    longs, shorts = _kernel.forced_flow(
        np.ascontiguousarray(centers[rows], dtype=np.float64),
        np.ascontiguousarray(long_usd[rows], dtype=np.float64),
        np.ascontiguousarray(short_usd[rows], dtype=np.float64),
        np.asarray([float(prices[i]) for i in rows], dtype=np.float64),
        np.asarray([hourly_vols[i] for i in rows], dtype=np.float64),
        hours,
    )
    out = [Forecast(None, None, hours, None)] * len(usable)
    for i, lg, sh in zip(rows, longs.tolist(), shorts.tolist(), strict=True):
        out[i] = Forecast(lg, sh, hours, hourly_vols[i])
    return out


VOL_BLEND = ((4, 0.4), (24, 0.4), (168, 0.2))  # (trailing hours, weight) of the hourly variance blend
_BLEND_HOURS = np.asarray([n for n, _ in VOL_BLEND], dtype=np.int64)
_BLEND_WEIGHTS = np.asarray([w for _, w in VOL_BLEND], dtype=np.float64)
SEASON_DAYS = 30


def hour_stamps(times: pl.Series) -> npt.NDArray[np.datetime64]:
    """UTC datetimes as naive ``datetime64[s]`` (every time in levradar is UTC), without a Python object each."""
    return times.dt.replace_time_zone(None).dt.cast_time_unit("ms").to_numpy().astype("datetime64[s]")


class HourlyVol:
    """The hourly volatility expected over a horizon after any hour of a price path, from the closes up to that hour
    only: the variance blend of ``VOL_BLEND`` times the hour-of-day variance profile of the last 30 days."""

    def __init__(self, times: Sequence[datetime] | npt.NDArray[np.datetime64], closes: FloatArray) -> None:
        """``times``: the closes' hours, as UTC datetimes or as naive UTC ``datetime64`` (the fast path)."""
        if isinstance(times, np.ndarray):
            t = times.astype("datetime64[s]")
        else:
            t = np.asarray([np.datetime64(x.replace(tzinfo=None), "s") for x in times], dtype="datetime64[s]")
        step = np.diff(t) == np.timedelta64(3600, "s")
        end = t[1:]  # each return is known at the close of its bar
        self.end_s = np.ascontiguousarray(end.astype(np.int64))
        self.r = np.where(step, np.diff(np.log(np.asarray(closes, dtype=np.float64))), np.nan)
        self.hour = (end.astype("datetime64[h]").astype(np.int64) % 24).astype(np.int64)

    @classmethod
    def of_returns(
        cls, end_s: npt.NDArray[np.int64], r: FloatArray, hour: npt.NDArray[np.int64]
    ) -> HourlyVol:
        """From returns already taken: each one's end (epoch seconds, ascending), its value (NaN across a gap)
        and the UTC hour of its end (a path that slides keeps them instead of taking every log again)."""
        out = cls.__new__(cls)
        out.end_s, out.r, out.hour = end_s, r, hour
        return out

    @classmethod
    def of_path(cls, path: pl.DataFrame) -> HourlyVol:
        """From a price path frame (``t`` UTC hour, ``close``), without a Python object per hour."""
        return cls(hour_stamps(path["t"]), path["close"].cast(pl.Float64).to_numpy())

    def at(self, when: datetime, horizon: timedelta) -> float | None:
        """The expected hourly volatility over ``horizon`` after ``when`` (None with fewer than 48 returns in the
        30 days before, or none of size): one compiled pass (_kernel.hourly_vol)."""
        when_s, ahead = _moment(when, horizon)
        vol = _kernel.hourly_vol(
            self.end_s, self.r, self.hour, when_s, SEASON_DAYS * 86_400, _BLEND_HOURS, _BLEND_WEIGHTS, ahead
        )
        return None if math.isnan(vol) else vol


@lru_cache(maxsize=64)
def _moment(when: datetime, horizon: timedelta) -> tuple[int, npt.NDArray[np.int64]]:
    """``when`` in epoch seconds and the UTC hours of day of the horizon's hours (the live radar asks for the same
    hour for every asset)."""
    hours = max(1, int(horizon / timedelta(hours=1)))
    ahead = (int(when.hour) + np.arange(1, hours + 1, dtype=np.int64)) % 24
    ahead.flags.writeable = False
    return int(np.datetime64(when.replace(tzinfo=None), "s").astype(np.int64)), ahead
