"""How venues are combined into one asset: the funding weights, the outlier cap and the coverage of each hour.

The rule, in one place (docs/signals.md §1):

- **Weights**: per asset and hour, each venue's funding weighs by its open interest in USD (one-sided) when every
  venue with a funding rate has OI at that hour, else by its trailing 24h traded USD (every venue has candles),
  else equally. The basis used is reported (``funding_basis``).
- **Outliers**: a venue's *spread* is its ``rate_8h`` minus the cross-venue median at that hour. A venue is flagged
  when, with at least ``outlier_min_venues`` venues quoting, its spread is extreme twice over: against its own
  spreads of the trailing ``outlier_window_days`` (robust z, daily-refreshed baseline sampled every 6 hours, like
  every other baseline) *and* against the other venues now (the spread over the robust sigma of the venues' rates at
  that hour). Both must reach ``outlier_z``: a venue that usually differs is not flagged for differing, and a
  market-wide move that shifts every venue flags none. A flagged venue counts with its weight capped at
  ``outlier_weight_cap`` of the asset's funding and its rate limited to the band the others span (the median ±
  ``outlier_z`` robust sigmas), so no single venue sets a regime; its own rate is still reported. With two venues
  the spreads mirror each other and no venue can be singled out: none is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics import _loops
from levradar.analytics.baseline import MAD_TO_SIGMA, SMALL_ROWS, FloatArray, key_codes, median_mad
from levradar.analytics.config import SignalConfig
from levradar.domain.records import DAY_US, HOUR_US

SAMPLE_STRIDE_H = 6
BASIS_NAMES = ("oi", "volume", "equal")  # how a venue's funding weighs (see the rule above)
BASIS_CODE = {name: i for i, name in enumerate(BASIS_NAMES)}


@dataclass(frozen=True)
class VenueRule:
    """Parameters of the aggregation rule (``[aggregation]`` in signals.toml)."""

    outlier_z: float = 5.0
    outlier_weight_cap: float = 0.1
    outlier_window_days: int = 7
    outlier_min_venues: int = 3
    min_history_days: int = 3
    spread_floor_8h: float = 0.00005

    @classmethod
    def from_config(cls, cfg: SignalConfig) -> VenueRule:
        sec = cfg.section("aggregation")
        return cls(
            outlier_z=float(sec["outlier_z"]),
            outlier_weight_cap=float(sec["outlier_weight_cap"]),
            outlier_window_days=int(sec["outlier_window_days"]),
            outlier_min_venues=int(sec["outlier_min_venues"]),
            min_history_days=int(sec["outlier_min_history_days"]),
            spread_floor_8h=cfg.floor("funding_rate_8h"),
        )


def with_funding_weights(
    markets: pl.DataFrame,
    rule: VenueRule,
    layout: AssetHours | None = None,
    baseline: SpreadBaseline | None = None,
) -> pl.DataFrame:
    """Add ``funding_spread_8h``, ``funding_spread_z``, ``funding_outlier``, ``funding_basis``,
    ``funding_weight`` (the venue's share of the asset's funding at that hour; null without a rate) and
    ``funding_counted_8h`` (the rate that enters the asset's funding: the venue's own, limited if flagged).
    ``layout``: the rows' AssetHours when the caller has it; ``baseline``: each market's spread baseline for the
    rows' day, when the caller has it (the live radar weighs one hour without the days before it)."""
    if markets.is_empty():
        return markets.with_columns(
            funding_spread_8h=pl.lit(None, pl.Float64),
            funding_spread_z=pl.lit(None, pl.Float64),
            funding_outlier=pl.lit(None, pl.Boolean),
            funding_basis=pl.lit(None, pl.String),
            funding_weight=pl.lit(None, pl.Float64),
            funding_counted_8h=pl.lit(None, pl.Float64),
        )
    layout = layout or AssetHours.of(markets)
    g, n_groups = layout.group, layout.n_groups
    rate, oi_usd, volume_24h = float_columns(markets, "rate_8h", "oi_usd", "volume_usd_24h")
    median = _loops.group_median(g, rate, n_groups, layout.n_slots)
    spread = rate - median[g]
    cross_sigma = MAD_TO_SIGMA * _loops.group_median(g, np.abs(spread), n_groups, layout.n_slots)
    band = rule.outlier_z * np.maximum(cross_sigma, rule.spread_floor_8h)
    spread_z = (
        _spread_z(layout, spread, rule)
        if baseline is None
        else baseline.z(markets["key"], layout.t_us, spread)
    )
    outlier, weight, counted, basis = _loops.funding_weights(
        g,
        n_groups,
        rate,
        spread,
        spread_z,
        band,
        median,
        oi_usd,
        volume_24h,
        rule.outlier_z,
        rule.outlier_min_venues,
        rule.outlier_weight_cap,
    )
    return markets.with_columns(
        funding_spread_8h=pl.Series(spread, nan_to_null=True),
        funding_spread_z=pl.Series(spread_z, nan_to_null=True),
        funding_outlier=pl.Series(outlier == 1).set(pl.Series(outlier < 0), None),
        funding_weight=pl.Series(weight, nan_to_null=True),
        funding_counted_8h=pl.Series(counted, nan_to_null=True),
        funding_basis=basis_names(basis),
    )


def basis_names(codes: npt.NDArray[np.generic]) -> pl.Series:
    """Weighting-basis codes (``BASIS_CODE``; -1: none) as their names, null for -1: one gather."""
    index = pl.Series(codes).cast(pl.Int64)
    return pl.Series(BASIS_NAMES, dtype=pl.String).gather(index.set(index < 0, None))


def float_column(frame: pl.DataFrame, column: str) -> FloatArray:
    """A column as float64, NaN for null."""
    return float_columns(frame, column)[0]


def float_columns(frame: pl.DataFrame, *columns: str) -> list[FloatArray]:
    """Columns as float64 arrays, NaN for null: a few rows' Series cast and converted one by one (a polars query
    costs ~0.15 ms however few the rows: the live radar's hour), many rows' in one query (its columns in parallel:
    3x faster on a 500-market scan, measured)."""
    if frame.height <= SMALL_ROWS:
        return [np.asarray(frame[c].cast(pl.Float64).to_numpy(), dtype=np.float64) for c in columns]
    floats = frame.select(pl.col(c).cast(pl.Float64).fill_null(np.nan) for c in columns)
    return [floats[c].to_numpy() for c in columns]


@dataclass(frozen=True)
class AssetHours:
    """Market rows grouped by (asset, hour) without sorting them: each row's group id, asset-major and hour-minor
    (``group_asset``, ``group_t``), so the groups holding rows come in (asset, t) order; the compiled loops
    (_loops.pyx) visit the rows once and gather per group."""

    group: npt.NDArray[np.int64]  # per row
    market: npt.NDArray[np.int64]  # per row: the market's index among the sorted keys
    n_markets: int
    first_row: npt.NDArray[np.int64]  # per market: its first row
    t_us: npt.NDArray[np.int64]  # per row: t in epoch µs
    n_groups: int
    n_slots: int  # the most markets an asset has (the most rows a group can hold)
    assets: list[str]
    group_asset: npt.NDArray[np.int64]  # per group: index into ``assets``
    group_t: npt.NDArray[np.int64]  # per group: epoch µs

    @classmethod
    def of(cls, markets: pl.DataFrame) -> AssetHours:
        """The layout of ``markets`` (``asset``, ``key``, ``t``; one row per market and t)."""
        keys, code = key_codes(markets["key"])
        first = np.empty(len(keys), dtype=np.int64)
        first[code[::-1]] = np.arange(len(code) - 1, -1, -1)  # each key's first row
        asset_names = markets["asset"].gather(first).to_list()  # each key's asset
        assets = sorted(set(asset_names))
        index = {a: i for i, a in enumerate(assets)}
        asset_of_key = np.fromiter((index[a] for a in asset_names), dtype=np.int64, count=len(keys))
        us = markets["t"].dt.epoch("us").to_numpy()
        times, time_idx = _time_index(us)
        if np.bincount(code * len(times) + time_idx).max(initial=0) > 1:
            raise ValueError(
                "more than one row for a market at one time: aggregate distinct (market, t) rows"
            )
        return cls(
            asset_of_key[code] * len(times) + time_idx,
            code,
            len(keys),
            first,
            us,
            len(assets) * len(times),
            int(np.bincount(asset_of_key).max(initial=0)),
            assets,
            np.repeat(np.arange(len(assets), dtype=np.int64), len(times)),
            np.tile(times, len(assets)),
        )


def _time_index(us: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The times a group can hold (epoch µs, ascending) and each row's index among them: every hour of the span
    when times fall on whole hours and the span is short next to the rows, else the distinct times."""
    if len(us) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    t0, t1 = int(us.min()), int(us.max())
    span = (t1 - t0) // HOUR_US + 1
    if span <= 4 * len(us) and not np.any((us - t0) % HOUR_US):
        return t0 + HOUR_US * np.arange(span, dtype=np.int64), (us - t0) // HOUR_US
    times, index = np.unique(us, return_inverse=True)
    return times, index.astype(np.int64)


def _spread_z(layout: AssetHours, spread: FloatArray, rule: VenueRule) -> FloatArray:
    """Robust z of each row's spread against the same market's spreads of the trailing days (before its day)."""
    day0, med, scale = _spread_stats(layout, spread, rule)
    day = (layout.t_us - day0) // DAY_US
    with np.errstate(invalid="ignore"):
        z: FloatArray = (spread - med[layout.market, day]) / scale[layout.market, day]
    return z


def _spread_stats(
    layout: AssetHours, spread: FloatArray, rule: VenueRule, days_after: int = 0
) -> tuple[int, FloatArray, FloatArray]:
    """Each market's spread median and robust scale per UTC day from the first day of the rows (epoch µs) to the
    rows' last day and ``days_after`` more (a day's baseline reads only the days before it)."""
    day0 = int(layout.t_us.min()) // DAY_US * DAY_US
    hours = (layout.t_us - day0) // HOUR_US
    n_days = int(hours.max()) // 24 + 1 + days_after
    per_day = 24 // SAMPLE_STRIDE_H
    samples = np.full((layout.n_markets, n_days * per_day), np.nan)
    on_sample = hours % SAMPLE_STRIDE_H == 0
    samples[layout.market[on_sample], hours[on_sample] // SAMPLE_STRIDE_H] = spread[on_sample]
    med, scale = _daily_stats(samples, rule, per_day)
    return day0, med, scale


@dataclass(frozen=True)
class SpreadBaseline:
    """Each market's spread median and robust scale for one UTC day, from its spreads of the days before: what
    ``with_funding_weights`` judges that day's spreads against, kept so one hour can be weighed alone."""

    day_us: int
    median: dict[str, float]
    scale: dict[str, float]

    @classmethod
    def of(cls, markets: pl.DataFrame, rule: VenueRule, day_us: int) -> SpreadBaseline:
        """From ``markets``: rows of at least the ``outlier_window_days`` before the day, up to the day before or
        into the day (only the rows of the sampled hours enter the baseline: the others are left out first)."""
        hour_of_day = markets["t"].dt.epoch("us").to_numpy() // HOUR_US % 24
        markets = markets.filter(pl.Series(hour_of_day % SAMPLE_STRIDE_H == 0))
        layout = AssetHours.of(markets)
        rate = float_column(markets, "rate_8h")
        median = _loops.group_median(layout.group, rate, layout.n_groups, layout.n_slots)
        day0, med, scale = _spread_stats(layout, rate - median[layout.group], rule, days_after=1)
        day = (day_us - day0) // DAY_US
        if not 0 <= day < med.shape[1]:
            raise ValueError("the rows must reach the day before the one the spread baseline is for")
        keys = markets["key"].gather(layout.first_row).to_list()  # in market order
        return cls(
            day_us,
            dict(zip(keys, med[:, day].tolist(), strict=True)),
            dict(zip(keys, scale[:, day].tolist(), strict=True)),
        )

    def z(self, key: pl.Series, t_us: npt.NDArray[np.int64], spread: FloatArray) -> FloatArray:
        """The robust z of each row's spread (rows of the baseline's day; NaN for a market it has no spreads of)."""
        if np.any(t_us // DAY_US * DAY_US != self.day_us):
            raise ValueError("the spread baseline speaks for one UTC day: rows of another day given")
        keys = key.to_list()
        med = np.asarray([self.median.get(k, np.nan) for k in keys], dtype=np.float64)
        scale = np.asarray([self.scale.get(k, np.nan) for k in keys], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            z: FloatArray = (spread - med) / scale
        return z


def _daily_stats(samples: FloatArray, rule: VenueRule, per_day: int) -> tuple[FloatArray, FloatArray]:
    """Median and floored robust scale per key and day, from the samples of the ``outlier_window_days`` before."""
    n_keys, n_samples = samples.shape
    n_days = n_samples // per_day
    window = rule.outlier_window_days * per_day
    padded = np.concatenate([np.full((n_keys, window), np.nan), samples], axis=1)
    # day d's window: samples [d*per_day - window, d*per_day) of the unpadded array
    views = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)[:, ::per_day][:, :n_days]
    flat = views.reshape(n_keys * n_days, window)
    med, mad, count = median_mad(flat)
    enough = count >= rule.min_history_days * per_day
    scale = np.where(enough, np.maximum(MAD_TO_SIGMA * mad, rule.spread_floor_8h), np.nan)
    return med.reshape(n_keys, n_days), scale.reshape(n_keys, n_days)
