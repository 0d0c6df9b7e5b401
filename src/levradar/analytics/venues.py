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
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from levradar.analytics.baseline import MAD_TO_SIGMA, FloatArray, nanmedian
from levradar.analytics.config import SignalConfig

SAMPLE_STRIDE_H = 6
ASSET_HOUR = ("asset", "t")


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


def with_funding_weights(markets: pl.DataFrame, rule: VenueRule) -> pl.DataFrame:
    """Add ``funding_spread_8h``, ``funding_spread_z``, ``funding_outlier``, ``funding_basis``,
    ``funding_weight`` (the venue's share of the asset's funding at that hour; null without a rate) and
    ``funding_counted_8h`` (the rate that enters the asset's funding: the venue's own, limited if flagged)."""
    if markets.is_empty():
        return markets.with_columns(
            funding_spread_8h=pl.lit(None, pl.Float64),
            funding_spread_z=pl.lit(None, pl.Float64),
            funding_outlier=pl.lit(None, pl.Boolean),
            funding_basis=pl.lit(None, pl.String),
            funding_weight=pl.lit(None, pl.Float64),
            funding_counted_8h=pl.lit(None, pl.Float64),
        )
    g, n_groups = _asset_hour_groups(markets)
    rate = markets["rate_8h"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    has_rate = ~np.isnan(rate)
    n_rate = np.bincount(g, weights=has_rate, minlength=n_groups)[g]
    median = _group_median(g, rate, n_groups)[g]
    spread = rate - median
    cross_sigma = np.maximum(MAD_TO_SIGMA * _group_median(g, np.abs(spread), n_groups)[g], rule.spread_floor_8h)
    band = rule.outlier_z * cross_sigma
    out = markets.with_columns(funding_spread_8h=pl.Series(spread).fill_nan(None))
    spread_z = _spread_z(out, rule).fill_null(np.nan).to_numpy()
    with np.errstate(invalid="ignore"):
        outlier = (
            has_rate
            & (n_rate >= rule.outlier_min_venues)
            & (np.abs(spread_z) >= rule.outlier_z)
            & (np.abs(spread) >= band)
        )
    oi = markets["oi_usd"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    volume = markets["volume_usd_24h"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    lacks = has_rate & ~(oi > 0)
    all_oi = np.bincount(g, weights=lacks, minlength=n_groups)[g] == 0
    all_volume = np.bincount(g, weights=has_rate & ~(volume > 0), minlength=n_groups)[g] == 0
    raw = np.where(all_oi, oi, np.where(all_volume, volume, 1.0))
    w = np.where(has_rate, raw, 0.0)
    kept_total = np.bincount(g, weights=np.where(outlier, 0.0, w), minlength=n_groups)[g]
    share = rule.outlier_weight_cap
    w = np.where(outlier & (kept_total > 0), np.minimum(w, kept_total * share / (1.0 - share)), w)
    total = np.bincount(g, weights=w, minlength=n_groups)[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(has_rate & (total > 0), w / total, np.nan)
    counted = np.where(outlier, median + np.clip(spread, -band, band), rate)
    quoted = pl.col("_has_rate")
    return (
        out.with_columns(
            _has_rate=pl.Series(has_rate),
            _all_oi=pl.Series(all_oi),
            _all_volume=pl.Series(all_volume),
            funding_spread_z=pl.Series(spread_z).fill_nan(None),
            funding_outlier=pl.Series(outlier),
            funding_weight=pl.Series(weight).fill_nan(None),
            funding_counted_8h=pl.Series(counted).fill_nan(None),
        )
        .with_columns(
            funding_outlier=pl.when(quoted).then(pl.col("funding_outlier")),
            funding_basis=pl.when(~quoted)
            .then(None)
            .when(pl.col("_all_oi"))
            .then(pl.lit("oi"))
            .when(pl.col("_all_volume"))
            .then(pl.lit("volume"))
            .otherwise(pl.lit("equal")),
        )
        .drop("_has_rate", "_all_oi", "_all_volume")
    )


def _asset_hour_groups(markets: pl.DataFrame) -> tuple[npt.NDArray[np.int64], int]:
    """An integer id per (asset, hour) for every row, and the number of ids."""
    assets = markets["asset"].unique().sort().to_list()
    t0 = markets["t"].min()
    assert isinstance(t0, datetime)
    a = markets["asset"].replace_strict({x: i for i, x in enumerate(assets)}, return_dtype=pl.Int64).to_numpy()
    h = ((markets["t"] - t0).dt.total_hours()).to_numpy().astype(np.int64)
    n_hours = int(h.max()) + 1
    return a * n_hours + h, len(assets) * n_hours


def _group_median(g: npt.NDArray[np.int64], values: FloatArray, n_groups: int) -> FloatArray:
    """The median of the non-NaN ``values`` of each group (NaN for a group without any)."""
    ok = ~np.isnan(values)
    if not ok.any():
        return np.full(n_groups, np.nan)
    medians = (
        pl.DataFrame({"g": g[ok], "v": values[ok]}).group_by("g").agg(pl.col("v").median())
    )
    out = np.full(n_groups, np.nan)
    out[medians["g"].to_numpy()] = medians["v"].to_numpy()
    return out


def _spread_z(frame: pl.DataFrame, rule: VenueRule) -> pl.Series:
    """Robust z of each row's spread against the same market's spreads of the trailing days (before its day)."""
    keys = frame["key"].unique().sort().to_list()
    t0, t1 = frame["t"].min(), frame["t"].max()
    assert isinstance(t0, datetime) and isinstance(t1, datetime)
    day0 = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    n_days = int((t1 - day0) / timedelta(days=1)) + 1
    per_day = 24 // SAMPLE_STRIDE_H
    k_idx = frame["key"].replace_strict({k: i for i, k in enumerate(keys)}, return_dtype=pl.Int64).to_numpy()
    hours = ((frame["t"] - day0).dt.total_hours()).to_numpy()
    spread = frame["funding_spread_8h"].fill_null(float("nan")).to_numpy()
    samples = np.full((len(keys), n_days * per_day), np.nan)
    on_sample = hours % SAMPLE_STRIDE_H == 0
    samples[k_idx[on_sample], hours[on_sample] // SAMPLE_STRIDE_H] = spread[on_sample]
    med, scale = _daily_stats(samples, rule, per_day)
    day = hours // 24
    z = (spread - med[k_idx, day]) / scale[k_idx, day]
    return pl.Series("funding_spread_z", z).fill_nan(None)


def _daily_stats(samples: FloatArray, rule: VenueRule, per_day: int) -> tuple[FloatArray, FloatArray]:
    """Median and floored robust scale per key and day, from the samples of the ``outlier_window_days`` before."""
    n_keys, n_samples = samples.shape
    n_days = n_samples // per_day
    window = rule.outlier_window_days * per_day
    padded = np.concatenate([np.full((n_keys, window), np.nan), samples], axis=1)
    # day d's window: samples [d*per_day - window, d*per_day) of the unpadded array
    views = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)[:, ::per_day][:, :n_days]
    flat = views.reshape(n_keys * n_days, window)
    med = nanmedian(flat)
    mad = nanmedian(np.abs(flat - med[:, None]))
    count = np.sum(~np.isnan(flat), axis=1)
    enough = count >= rule.min_history_days * per_day
    scale = np.where(enough, np.maximum(MAD_TO_SIGMA * mad, rule.spread_floor_8h), np.nan)
    return med.reshape(n_keys, n_days), scale.reshape(n_keys, n_days)
