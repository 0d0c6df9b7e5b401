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
    rate = pl.col("rate_8h")
    has_rate = rate.is_not_null()
    median = rate.median().over(ASSET_HOUR)
    out = markets.with_columns(
        _n_rate=has_rate.sum().over(ASSET_HOUR),
        _median=median,
        funding_spread_8h=rate - median,
    )
    cross_sigma = pl.max_horizontal(
        MAD_TO_SIGMA * pl.col("funding_spread_8h").abs().median().over(ASSET_HOUR), pl.lit(rule.spread_floor_8h)
    )
    out = out.with_columns(funding_spread_z=_spread_z(out, rule), _band=rule.outlier_z * cross_sigma)
    outlier = (
        (pl.col("_n_rate") >= rule.outlier_min_venues)
        & (pl.col("funding_spread_z").abs() >= rule.outlier_z)
        & (pl.col("funding_spread_8h").abs() >= pl.col("_band"))
    ).fill_null(False)
    all_oi = (~has_rate | (pl.col("oi_usd") > 0).fill_null(False)).all().over(ASSET_HOUR)
    all_volume = (~has_rate | (pl.col("volume_usd_24h") > 0).fill_null(False)).all().over(ASSET_HOUR)
    basis = pl.when(all_oi).then(pl.lit("oi")).when(all_volume).then(pl.lit("volume")).otherwise(pl.lit("equal"))
    out = out.with_columns(funding_outlier=pl.when(has_rate).then(outlier), funding_basis=basis)
    raw = (
        pl.when(pl.col("funding_basis") == "oi")
        .then(pl.col("oi_usd"))
        .when(pl.col("funding_basis") == "volume")
        .then(pl.col("volume_usd_24h"))
        .otherwise(1.0)
    )
    out = out.with_columns(_w=pl.when(has_rate).then(raw))
    flagged = pl.col("funding_outlier")
    kept_total = pl.when(~flagged).then(pl.col("_w")).sum().over(ASSET_HOUR)
    share = rule.outlier_weight_cap
    cap = kept_total * (share / (1.0 - share))
    capped = pl.when(flagged & (kept_total > 0)).then(pl.min_horizontal("_w", cap)).otherwise(pl.col("_w"))
    out = out.with_columns(_w=capped)
    counted = pl.col("_median") + pl.col("funding_spread_8h").clip(-pl.col("_band"), pl.col("_band"))
    return out.with_columns(
        funding_weight=pl.col("_w") / pl.col("_w").sum().over(ASSET_HOUR),
        funding_basis=pl.when(has_rate).then(pl.col("funding_basis")),
        funding_counted_8h=pl.when(flagged).then(counted).otherwise(rate),
    ).drop("_w", "_n_rate", "_median", "_band")


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
